<?php
/**
 * Product states cut into batches of at most $size states and about $maxBytes of JSON each:
 * with native links a batch of 500 states can outgrow dmfrec's body limit (DMFREC_MAX_BODY_BYTES,
 * 1 MB by default), which would answer 413 for ever. A single state larger than $maxBytes still
 * goes alone (a state has at most LinkRows::MAX links of each type). Framework-free.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Catalog;

class StateChunks
{
    public const MAX_BYTES = 524288;  // half of dmfrec's default limit: room for the envelope

    /**
     * @param array<int, array<string, mixed>> $states
     * @return array<int, array<int, array<string, mixed>>>
     */
    public static function split(array $states, int $size, int $maxBytes = self::MAX_BYTES): array
    {
        $chunks = [];
        $chunk = [];
        $bytes = 0;
        foreach (array_values($states) as $state) {
            $length = strlen(json_encode($state, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)) + 1;
            if ($chunk && (count($chunk) >= max(1, $size) || $bytes + $length > $maxBytes)) {
                $chunks[] = $chunk;
                $chunk = [];
                $bytes = 0;
            }
            $chunk[] = $state;
            $bytes += $length;
        }
        if ($chunk) {
            $chunks[] = $chunk;
        }
        return $chunks;
    }
}
