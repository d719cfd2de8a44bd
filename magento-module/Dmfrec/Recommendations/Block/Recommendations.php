<?php
/**
 * The storefront widget: loads the recommendations client-side from dmfrec. A logged-in
 * customer gets a short-lived token minted here (the secret stays on the server); a guest
 * gets the popular list.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Block;

use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\TokenMinter;
use Magento\Customer\Model\Session;
use Magento\Framework\View\Element\Template;
use Magento\Framework\View\Element\Template\Context;
use Magento\Widget\Block\BlockInterface;

class Recommendations extends Template implements BlockInterface
{
    protected $_template = 'Dmfrec_Recommendations::recommendations.phtml';

    public function __construct(
        Context $context,
        private readonly Config $config,
        private readonly TokenMinter $minter,
        private readonly Session $customerSession,
        array $data = []
    ) {
        parent::__construct($context, $data);
    }

    public function getApiBase(): string
    {
        return $this->config->endpoint();
    }

    public function getLimit(): int
    {
        return (int) ($this->getData('limit') ?: $this->config->widgetLimit());
    }

    public function getCustomerId(): ?string
    {
        return $this->customerSession->isLoggedIn() ? (string) $this->customerSession->getCustomerId() : null;
    }

    public function getToken(): ?string
    {
        $customer = $this->getCustomerId();
        $secret = $this->config->tokenSecret();
        if ($customer === null || $secret === '') {
            return null;
        }
        return $this->minter->mintFor($secret, $customer, $this->config->tokenTtl());
    }

    /** Per-customer content must not be cached in the full-page cache. */
    public function getCacheLifetime(): ?int
    {
        return null;
    }
}
