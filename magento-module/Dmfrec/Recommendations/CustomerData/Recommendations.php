<?php
/**
 * The `dmfrec` customer-data section: private content, loaded by the browser from Magento's
 * uncached customer/section/load and kept in its local storage, never in the page HTML.
 * A logged-in customer gets their id and a short-lived token minted here (the secret stays on
 * the server); a guest gets nothing, and the widget shows popular products.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\CustomerData;

use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\SectionData;
use Magento\Customer\CustomerData\SectionSourceInterface;
use Magento\Customer\Model\Session;

class Recommendations implements SectionSourceInterface
{
    public function __construct(
        private readonly Config $config,
        private readonly SectionData $sectionData,
        private readonly Session $session
    ) {
    }

    /** @return array<string, mixed> */
    public function getSectionData()
    {
        $customerId = $this->session->isLoggedIn() ? (string) $this->session->getCustomerId() : null;
        return $this->sectionData->build($customerId, $this->config->tokenSecret(), $this->config->tokenTtl(), time());
    }
}
