<?php
/**
 * GET /dmfrec/products/info?skus=A,B -> {"A": {"name", "price", "url", "image"}, ...} for the
 * widget's product cards: visible, enabled products of the current store only; unknown SKUs
 * are left out (the widget then shows the SKU).
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Controller\Products;

use Magento\Catalog\Helper\Image;
use Magento\Catalog\Model\Product\Attribute\Source\Status;
use Magento\Catalog\Model\Product\Visibility;
use Magento\Catalog\Model\ResourceModel\Product\CollectionFactory;
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
        private readonly PriceHelper $priceHelper
    ) {
    }

    public function execute(): Json
    {
        $skus = array_slice(array_filter(array_map('trim',
            explode(',', (string) $this->request->getParam('skus', '')))), 0, self::MAX_SKUS);
        $result = $this->jsonFactory->create();
        if (!$skus) {
            return $result->setData(new \stdClass());
        }
        $collection = $this->collectionFactory->create()
            ->addStoreFilter($this->storeManager->getStore())
            ->addAttributeToSelect(['name', 'price', 'small_image', 'url_key'])
            ->addAttributeToFilter('sku', ['in' => $skus])
            ->addAttributeToFilter('status', Status::STATUS_ENABLED)
            ->setVisibility($this->visibility->getVisibleInSiteIds())
            ->addFinalPrice();
        $cards = [];
        foreach ($collection as $product) {
            $cards[$product->getSku()] = [
                'name' => (string) $product->getName(),
                'price' => $this->priceHelper->currency($product->getFinalPrice(), true, false),
                'url' => $product->getProductUrl(),
                'image' => $this->imageHelper->init($product, 'product_small_image')->getUrl(),
            ];
        }
        // Public product data only; a short cache is fine.
        $result->setHeader('Cache-Control', 'public, max-age=300', true);
        return $result->setData($cards ?: new \stdClass());
    }
}
