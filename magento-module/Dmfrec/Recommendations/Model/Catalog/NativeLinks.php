<?php
/**
 * Reads products' native related and up-sell links from Magento's link tables in one query per
 * batch (a product-state batch has up to 500 products), with each link's position; LinkRows
 * orders and cleans them. Products without links get empty lists, so dmfrec forgets links
 * removed in the admin.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Catalog;

use Magento\Catalog\Api\Data\ProductInterface;
use Magento\Catalog\Model\Product\Link;
use Magento\Framework\App\ResourceConnection;
use Magento\Framework\EntityManager\MetadataPool;

class NativeLinks
{
    private const TYPES = [Link::LINK_TYPE_RELATED => 'related', Link::LINK_TYPE_UPSELL => 'upsell'];

    public function __construct(
        private readonly ResourceConnection $resource,
        private readonly MetadataPool $metadataPool
    ) {
    }

    /**
     * @param int[] $productIds
     * @return array<int, array{related: string[], upsell: string[]}> every given product id
     */
    public function forIds(array $productIds): array
    {
        $productIds = array_values(array_unique(array_map('intval', $productIds)));
        if (!$productIds) {
            return [];
        }
        $db = $this->resource->getConnection();
        // catalog_product_link.product_id is the row id where content staging is installed.
        $linkField = $this->metadataPool->getMetadata(ProductInterface::class)->getLinkField();
        $select = $db->select()
            ->from(['l' => $this->resource->getTableName('catalog_product_link')], ['link_type_id'])
            ->join(['p' => $this->resource->getTableName('catalog_product_entity')],
                "p.$linkField = l.product_id", ['product_id' => 'p.entity_id'])
            ->join(['t' => $this->resource->getTableName('catalog_product_entity')],
                't.entity_id = l.linked_product_id', ['sku' => 't.sku'])
            ->joinLeft(['a' => $this->resource->getTableName('catalog_product_link_attribute')],
                "a.link_type_id = l.link_type_id AND a.product_link_attribute_code = 'position'", [])
            ->joinLeft(['v' => $this->resource->getTableName('catalog_product_link_attribute_int')],
                'v.link_id = l.link_id AND v.product_link_attribute_id = a.product_link_attribute_id',
                ['position' => 'v.value'])
            ->where('p.entity_id IN (?)', $productIds)
            ->where('l.link_type_id IN (?)', array_keys(self::TYPES))
            ->order('l.link_id');
        $rows = [];
        foreach ($db->fetchAll($select) as $row) {
            $row['type'] = self::TYPES[(int) $row['link_type_id']] ?? '';
            $rows[] = $row;
        }
        $links = LinkRows::group($rows);
        $all = [];
        foreach ($productIds as $id) {
            $all[$id] = $links[$id] ?? ['related' => [], 'upsell' => []];
        }
        return $all;
    }
}
