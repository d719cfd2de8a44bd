<?php
/**
 * The storefront widget, safe for the full-page cache: the HTML is the same for every visitor
 * (a placeholder and a script), so the page stays cacheable. Who the visitor is comes later,
 * in the browser, from the `dmfrec` customer-data section. Renders nothing when the module's
 * widget is off or no dmfrec URL is set.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Block;

use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\WidgetConfig;
use Magento\Framework\View\Element\Template;
use Magento\Framework\View\Element\Template\Context;
use Magento\Store\Model\StoreManagerInterface;
use Magento\Widget\Block\BlockInterface;

class Recommendations extends Template implements BlockInterface
{
    protected $_template = 'Dmfrec_Recommendations::recommendations.phtml';

    public function __construct(
        Context $context,
        private readonly Config $config,
        private readonly StoreManagerInterface $stores,
        private readonly WidgetConfig $widgetConfig,
        array $data = []
    ) {
        parent::__construct($context, $data);
    }

    public function getApiBase(): string
    {
        return $this->config->widgetApiBase();
    }

    public function getLimit(): int
    {
        return max(1, min(50, (int) ($this->getData('limit') ?: $this->config->widgetLimit())));
    }

    /** The website whose products the lists are limited to (null: no filter). */
    public function getWebsiteId(): ?int
    {
        return $this->config->filterByWebsite() ? (int) $this->stores->getStore()->getWebsiteId() : null;
    }

    /** The website whose cookie consent the widget's guest cookie waits for (null: none asked). */
    public function getCookieConsentWebsite(): ?int
    {
        return $this->config->cookieRestriction() ? (int) $this->stores->getStore()->getWebsiteId() : null;
    }

    /** The JSON handed to the script: public configuration only, never who the visitor is. */
    public function getWidgetConfig(): string
    {
        return $this->widgetConfig->json($this->getApiBase(), $this->getLimit(), $this->getWebsiteId(),
            $this->getUrl('dmfrec/products/info'), $this->getCookieConsentWebsite());
    }

    protected function _toHtml()
    {
        return $this->config->widgetEnabled() ? parent::_toHtml() : '';
    }
}
