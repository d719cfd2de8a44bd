<?php
/**
 * Short-lived storefront tokens bound to one customer id, as dmfrec's storefront verifies them:
 * "v1.<base64url(customer id)>.<expiry unix time>.<hex HMAC-SHA256 of the part before it>".
 * Minted server-side for the logged-in customer; the shared secret never reaches the browser.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class TokenMinter
{
    public function mint(string $secret, string $customerId, int $expires): string
    {
        if ($secret === '') {
            throw new \InvalidArgumentException('a token secret is required');
        }
        $encoded = rtrim(strtr(base64_encode($customerId), '+/', '-_'), '=');
        $payload = 'v1.' . $encoded . '.' . $expires;
        return $payload . '.' . hash_hmac('sha256', $payload, $secret);
    }

    public function mintFor(string $secret, string $customerId, int $ttlSeconds = 600): string
    {
        return $this->mint($secret, $customerId, time() + $ttlSeconds);
    }
}
