<?php
/**
 * Standard Webhooks signing (webhook-id, webhook-timestamp, webhook-signature), as dmfrec's
 * webhook verifies it: HMAC-SHA256 over "id.timestamp.body", base64, prefixed "v1,".
 * A "whsec_<base64>" secret is used base64-decoded; any other secret as its UTF-8 bytes.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class Signer
{
    private const PREFIX = 'whsec_';

    public function key(string $secret): string
    {
        if (strncmp($secret, self::PREFIX, strlen(self::PREFIX)) === 0) {
            $key = base64_decode(substr($secret, strlen(self::PREFIX)), true);
            if ($key === false) {
                throw new \InvalidArgumentException('a whsec_ secret must be base64 after the prefix');
            }
            return $key;
        }
        return $secret;
    }

    public function sign(string $secret, string $msgId, int $timestamp, string $body): string
    {
        $content = $msgId . '.' . $timestamp . '.' . $body;
        return 'v1,' . base64_encode(hash_hmac('sha256', $content, $this->key($secret), true));
    }

    /**
     * @return array<string, string> the three headers for one delivery of $body
     */
    public function headers(string $secret, string $msgId, int $timestamp, string $body): array
    {
        return [
            'webhook-id' => $msgId,
            'webhook-timestamp' => (string) $timestamp,
            'webhook-signature' => $this->sign($secret, $msgId, $timestamp, $body),
        ];
    }
}
