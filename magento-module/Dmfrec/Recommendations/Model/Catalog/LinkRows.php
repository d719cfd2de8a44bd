<?php
/**
 * A product's native related and up-sell links as dmfrec's product states take them (issue 18:
 * the A/B arm "magento" serves them): linked SKUs in the shop's order (position, then the
 * order the rows came in), each once, never the product itself, at most MAX per link type.
 * dmfrec refuses a state with a SKU linked twice or to itself, so that is cleaned here.
 * Framework-free: NativeLinks reads the rows from Magento's link tables.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Catalog;

class LinkRows
{
    public const MAX = 20;  // dmfrec takes up to 100; a list of the arm uses the first few
    public const TYPES = ['related', 'upsell'];

    /**
     * @param iterable<array{product_id: int|string, type: string, sku: string, position: int|string|null}> $rows
     *     one row per link; a type other than TYPES is ignored
     * @return array<int, array{related: string[], upsell: string[]}> product id => its links
     */
    public static function group(iterable $rows): array
    {
        $found = [];
        $n = 0;
        foreach ($rows as $row) {
            $type = (string) $row['type'];
            if (!in_array($type, self::TYPES, true)) {
                continue;
            }
            // A link without a position goes after those with one, in arrival order.
            $position = $row['position'] === null || $row['position'] === '' ? PHP_INT_MAX : (int) $row['position'];
            $found[(int) $row['product_id']][$type][] = [$position, $n++, (string) $row['sku']];
        }
        $grouped = [];
        foreach ($found as $productId => $types) {
            foreach (self::TYPES as $type) {
                $links = $types[$type] ?? [];
                usort($links, static fn (array $a, array $b) => [$a[0], $a[1]] <=> [$b[0], $b[1]]);
                $grouped[$productId][$type] = array_column($links, 2);
            }
        }
        return $grouped;
    }

    /**
     * The `related` and `upsell` fields of $sku's state, for the link types $row holds.
     *
     * @param array<string, mixed> $row
     * @return array<string, string[]>
     */
    public static function fields(string $sku, array $row): array
    {
        $fields = [];
        foreach (self::TYPES as $type) {
            if (array_key_exists($type, $row) && is_array($row[$type])) {
                $fields[$type] = self::clean($sku, $row[$type]);
            }
        }
        return $fields;
    }

    /**
     * @param array<int, mixed> $links
     * @return string[]
     */
    public static function clean(string $sku, array $links): array
    {
        $kept = [];
        foreach ($links as $link) {
            $link = trim((string) $link);
            if ($link !== '' && $link !== $sku && !isset($kept[$link])) {
                $kept[$link] = true;
            }
        }
        return array_slice(array_map('strval', array_keys($kept)), 0, self::MAX);
    }
}
