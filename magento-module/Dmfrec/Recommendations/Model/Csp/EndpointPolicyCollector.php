<?php
/**
 * Content Security Policy for the configured dmfrec URL: the storefront may load its widget
 * script and call its API (script-src, connect-src). etc/csp_whitelist.xml cannot name a URL
 * that each shop configures, so this collector adds it from the configuration.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Csp;

use Dmfrec\Recommendations\Model\Config;
use Magento\Csp\Api\PolicyCollectorInterface;
use Magento\Csp\Model\Policy\FetchPolicy;

class EndpointPolicyCollector implements PolicyCollectorInterface
{
    public function __construct(private readonly Config $config)
    {
    }

    public function collect(array $defaultPolicies = []): array
    {
        $url = $this->config->widgetApiBase();
        $parts = parse_url($url);
        if (!$this->config->widgetEnabled() || empty($parts['scheme']) || empty($parts['host'])) {
            return $defaultPolicies;
        }
        $origin = $parts['scheme'] . '://' . $parts['host'] . (isset($parts['port']) ? ':' . $parts['port'] : '');
        foreach (['script-src', 'connect-src', 'img-src'] as $directive) {
            $defaultPolicies[] = new FetchPolicy($directive, false, [$origin]);
        }
        return $defaultPolicies;
    }
}
