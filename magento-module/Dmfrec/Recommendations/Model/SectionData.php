<?php
/**
 * What the `dmfrec` customer-data section holds: for a logged-in customer their id, a token
 * minted for them and its expiry; for a guest (or without a token secret) nothing, and the
 * widget shows popular products.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class SectionData
{
    public function __construct(private readonly TokenMinter $minter = new TokenMinter())
    {
    }

    /** @return array<string, mixed> */
    public function build(?string $customerId, string $secret, int $ttlSeconds, int $now): array
    {
        if ($customerId === null || $customerId === '' || $secret === '') {
            return [];
        }
        $expires = $now + $ttlSeconds;
        return [
            'customer_id' => $customerId,
            'token' => $this->minter->mint($secret, $customerId, $expires),
            'expires' => $expires,
        ];
    }
}
