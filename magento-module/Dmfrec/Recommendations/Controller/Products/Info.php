<?php
/**
 * GET /dmfrec/products/info?skus=A,B -> {"A": {"name", "price", "url", "image"}, ...} for the
 * widget's product cards: visible, enabled, in-stock products of the current store only;
 * others are left out, and the widget drops a SKU Magento would not show. Prices are the
 * visitor's customer-group prices, so the answer is `Cache-Control: private`.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Controller\Products;

use Magento\Catalog\Helper\Image;
use Magento\Catalog\Model\Product\Attribute\Source\Status;
use Magento\Catalog\Model\Product\Visibility;
use Magento\Catalog\Model\ResourceModel\Product\CollectionFactory;
use Magento\CatalogInventory\Helper\Stock;
use Dmfrec\Recommendations\Model\Config;
use Magento\Framework\App\Action\HttpGetActionInterface;
use Magento\Framework\App\RequestInterface;
use Magento\Framework\Controller\Result\Json;
use Magento\Framework\Controller\Result\JsonFactory;
use Magento\Framework\Pricing\Helper\Data as PriceHelper;
use Magento\Store\Model\StoreManagerInterface;

class Info implements HttpGetActionInterface
{
    private const MAX_SKUS = 50;

    public function __construct(
        private readonly RequestInterface $request,
        private readonly JsonFactory $jsonFactory,
        private readonly CollectionFactory $collectionFactory,
        private readonly StoreManagerInterface $storeManager,
        private readonly Visibility $visibility,
        private readonly Image $imageHelper,
        private readonly PriceHelper $priceHelper,
        private readonly Stock $stockHelper,
        private readonly Config $config
    ) {
    }

    public function execute(): Json
    {
        $skus = array_slice(array_filter(array_map('trim',
            explode(',', (string) $this->request->getParam('skus', '')))), 0, self::MAX_SKUS);
        $result = $this->jsonFactory->create();
        $result->setHeader('Cache-Control', 'private, max-age=60', true);
        if (!$skus || !$this->config->widgetEnabled()) {
            return $result->setData(new \stdClass());
        }
        $collection = $this->collectionFactory->create()
            ->addStoreFilter($this->storeManager->getStore())
            ->addAttributeToSelect(['name', 'price', 'small_image', 'url_key'])
            ->addAttributeToFilter('sku', ['in' => $skus])
            ->addAttributeToFilter('status', Status::STATUS_ENABLED)
            ->setVisibility($this->visibility->getVisibleInSiteIds())
            ->addFinalPrice();
        $this->stockHelper->addIsInStockFilterToCollection($collection);
        $cards = [];
        foreach ($collection as $product) {
            $cards[$product->getSku()] = [
                'name' => (string) $product->getName(),
                'price' => $this->priceHelper->currency($product->getFinalPrice(), true, false),
                'url' => $product->getProductUrl(),
                'image' => $this->imageHelper->init($product, 'product_small_image')->getUrl(),
            ];
        }
        return $result->setData($cards ?: new \stdClass());
    }
}
