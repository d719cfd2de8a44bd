<?php
/**
 * With MSI (Magento's Inventory modules), whether each SKU is salable on each website, in the
 * stock assigned to that website: StockResolverInterface::execute('website', code) gives the
 * stock, AreProductsSalableInterface::execute(skus, stock id) the answer (the stock index, as
 * the storefront reads it). Without MSI (modules disabled or removed with composer) this says
 * so (null) and the legacy single stock is used. The MSI services are taken from the object
 * manager only once they are known to exist: a constructor dependency on an interface that is
 * not installed would break `setup:di:compile` on stores without MSI.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Catalog;

use Magento\Framework\Exception\NoSuchEntityException;
use Magento\Framework\Module\Manager as ModuleManager;
use Magento\Framework\ObjectManagerInterface;
use Magento\InventorySalesApi\Api\AreProductsSalableInterface;
use Magento\InventorySalesApi\Api\Data\SalesChannelInterface;
use Magento\InventorySalesApi\Api\StockResolverInterface;
use Magento\Store\Model\StoreManagerInterface;

class MsiSalability
{
    /** The API and the module that implements it (StockResolver, AreProductsSalable). */
    private const MODULES = ['Magento_InventorySalesApi', 'Magento_InventorySales'];

    public function __construct(
        private readonly ModuleManager $modules,
        private readonly ObjectManagerInterface $objects,
        private readonly StoreManagerInterface $stores,
        private readonly WebsiteStock $stock
    ) {
    }

    public function available(): bool
    {
        foreach (self::MODULES as $module) {
            if (!$this->modules->isEnabled($module)) {
                return false;
            }
        }
        return interface_exists(StockResolverInterface::class)
            && interface_exists(AreProductsSalableInterface::class);
    }

    /**
     * @param string[] $skus
     * @return array<string, array<int, bool>>|null SKU => website id => salable; null without MSI
     */
    public function bySku(array $skus): ?array
    {
        if (!$this->available()) {
            return null;
        }
        $resolver = $this->objects->get(StockResolverInterface::class);
        $salable = $this->objects->get(AreProductsSalableInterface::class);
        $codes = [];
        foreach ($this->stores->getWebsites() as $website) {
            $codes[(int) $website->getId()] = (string) $website->getCode();
        }
        $stockOf = static function (string $code) use ($resolver): ?int {
            try {
                return (int) $resolver->execute(SalesChannelInterface::TYPE_WEBSITE, $code)->getStockId();
            } catch (NoSuchEntityException) {
                return null;  // no stock assigned to the website: it sells nothing
            }
        };
        $areSalable = static function (array $skus, int $stockId) use ($salable): array {
            $out = [];
            foreach ($salable->execute($skus, $stockId) as $result) {
                $out[$result->getSku()] = $result->isSalable();
            }
            return $out;
        };
        return $this->stock->salableByWebsite($skus, $codes, $stockOf, $areSalable);
    }
}
