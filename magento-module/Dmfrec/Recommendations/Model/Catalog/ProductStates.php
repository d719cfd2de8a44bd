<?php
/**
 * Whether Magento would show each product, as CatalogBatch takes it: enabled and visible at
 * the default scope, in stock (the legacy stock status, MSI's default stock), the websites it
 * is assigned to and, with MSI, whether each website's own stock can sell it (`salable`); with
 * its native related and up-sell links (NativeLinks), which dmfrec's A/B arm "magento" serves.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Catalog;

use Magento\Catalog\Model\Product\Attribute\Source\Status;
use Magento\Catalog\Model\Product\Visibility;
use Magento\Catalog\Model\ResourceModel\Product\CollectionFactory;
use Magento\CatalogInventory\Model\ResourceModel\Stock\Status as StockStatus;
use Magento\Store\Model\Store;

class ProductStates
{
    public function __construct(
        private readonly CollectionFactory $collectionFactory,
        private readonly StockStatus $stockStatus,
        private readonly MsiSalability $msi,
        private readonly NativeLinks $nativeLinks
    ) {
    }

    /**
     * @param int[] $productIds
     * @return array<int, array<string, mixed>> product id => state row
     */
    public function forIds(array $productIds): array
    {
        $productIds = array_values(array_unique(array_map('intval', $productIds)));
        if (!$productIds) {
            return [];
        }
        $collection = $this->collectionFactory->create()
            ->setStoreId(Store::DEFAULT_STORE_ID)
            ->addIdFilter($productIds)
            ->addAttributeToSelect(['status', 'visibility'])
            ->addWebsiteNamesToResult();
        $stock = $this->stockStatus->getProductsStockStatuses($productIds, 0);
        $links = $this->nativeLinks->forIds($productIds);
        $states = [];
        foreach ($collection as $product) {
            $id = (int) $product->getId();
            $states[$id] = [
                'sku' => (string) $product->getSku(),
                'enabled' => (int) $product->getData('status') === Status::STATUS_ENABLED,
                'visible' => (int) $product->getData('visibility') !== Visibility::VISIBILITY_NOT_VISIBLE,
                'in_stock' => !empty($stock[$id]),
                'website_ids' => (array) ($product->getData('website_ids') ?? []),
            ] + ($links[$id] ?? []);
        }
        $salable = $states ? $this->msi->bySku(array_column($states, 'sku')) : null;
        if ($salable !== null) {
            foreach ($states as $id => $state) {
                $states[$id]['salable'] = $salable[$state['sku']] ?? [];
            }
        }
        return $states;
    }
}
