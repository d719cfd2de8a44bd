<?php
/**
 * The module's settings (Stores > Configuration > Services > dmfrec Recommendations).
 *
 * The connection (dmfrec URL, webhook and token secrets) may be set per website (one dmfrec per
 * website, or one with per-website secrets), falling back to the default scope as Magento's
 * configuration does; timeouts and the outbox are per installation. Whether orders are sent and
 * whether lists are limited to the website's products are set per website; the widget per store
 * view. The secrets are stored encrypted and decrypted only here.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Magento\Framework\App\Config\ScopeConfigInterface;
use Magento\Framework\Encryption\EncryptorInterface;
use Magento\Store\Model\ScopeInterface;
use Magento\Store\Model\StoreManagerInterface;

class Config implements Settings
{
    public const WEBHOOK_SECRET = 'dmfrec/general/webhook_secret';
    public const TOKEN_SECRET = 'dmfrec/general/token_secret';

    public function __construct(
        private readonly ScopeConfigInterface $scopeConfig,
        private readonly EncryptorInterface $encryptor,
        private readonly StoreManagerInterface $storeManager
    ) {
    }

    /** [scope, scope id] of the connection for $websiteId: its website's, or the default one. */
    private static function connectionScope(?int $websiteId): array
    {
        return $websiteId === null ? [ScopeConfigInterface::SCOPE_TYPE_DEFAULT, null]
            : [ScopeInterface::SCOPE_WEBSITE, $websiteId];
    }

    private function value(string $path, string $scope = ScopeConfigInterface::SCOPE_TYPE_DEFAULT,
                           int|string|null $scopeId = null): string
    {
        return trim((string) $this->scopeConfig->getValue($path, $scope, $scopeId));
    }

    /** Sending is on (for $websiteId, or for the installation when null) and configured. */
    public function isEnabled(?int $websiteId = null): bool
    {
        $on = $websiteId === null
            ? $this->scopeConfig->isSetFlag('dmfrec/general/enabled')
            : $this->scopeConfig->isSetFlag('dmfrec/general/enabled', ScopeInterface::SCOPE_WEBSITE, $websiteId);
        return $on && $this->endpoint($websiteId) !== '';
    }

    /** Sending is on and configured at the default scope or for at least one website (cron). */
    public function isEnabledAnywhere(): bool
    {
        if ($this->isEnabled()) {
            return true;
        }
        foreach ($this->storeManager->getWebsites() as $website) {
            if ($this->isEnabled((int) $website->getId())) {
                return true;
            }
        }
        return false;
    }

    public function endpoint(?int $websiteId = null): string
    {
        return rtrim($this->value('dmfrec/general/endpoint', ...self::connectionScope($websiteId)), '/');
    }

    public function webhookSecret(?int $websiteId = null): string
    {
        return $this->secret(self::WEBHOOK_SECRET, ...self::connectionScope($websiteId));
    }

    /**
     * The storefront token secret of the store view's website (null: the current store, as the
     * `dmfrec` customer-data section is built on the storefront).
     */
    public function tokenSecret(int|string|null $store = null): string
    {
        return $this->secret(self::TOKEN_SECRET, ScopeInterface::SCOPE_STORE, $store);
    }

    /**
     * Saved on the config page the value is encrypted ("<key version>:<cipher>:..."); set with
     * `config:sensitive:set` it is stored as typed in app/etc/env.php.
     */
    private function secret(string $path, string $scope = ScopeConfigInterface::SCOPE_TYPE_DEFAULT,
                            int|string|null $scopeId = null): string
    {
        $raw = $this->value($path, $scope, $scopeId);
        return preg_match('/^\d+:\d+:/', $raw) ? (string) $this->encryptor->decrypt($raw) : $raw;
    }

    public function immediateTimeout(): float
    {
        return max(0.2, min(10.0, (float) $this->value('dmfrec/general/immediate_timeout')));
    }

    public function timeout(): float
    {
        return max(1.0, min(30.0, (float) $this->value('dmfrec/general/timeout')));
    }

    public function batchSize(): int
    {
        return max(1, (int) $this->value('dmfrec/general/batch_size'));
    }

    public function breakerFailures(): int
    {
        return max(1, (int) $this->value('dmfrec/general/breaker_failures'));
    }

    public function breakerCoolDown(): int
    {
        return max(5, min(3600, (int) $this->value('dmfrec/general/breaker_cooldown')));
    }

    public function maxAttempts(): int
    {
        return max(1, (int) $this->value('dmfrec/general/max_attempts'));
    }

    public function retentionDays(): int
    {
        return max(0, (int) $this->value('dmfrec/general/retention_days'));
    }

    public function catalogSyncEnabled(): bool
    {
        return $this->scopeConfig->isSetFlag('dmfrec/catalog/sync') && $this->catalogTargets() !== [];
    }

    /**
     * The connections product states go to: the default one and each website's own (when it
     * differs), enabled ones only (CatalogBatch::targets).
     *
     * @return array<int, int|null> website ids, null for the default connection
     */
    public function catalogTargets(): array
    {
        return CatalogBatch::targets($this->enabledConnections());
    }

    /**
     * The websites each of those connections serves (CatalogBatch::served): whose stock
     * decides what that connection is told is in stock.
     *
     * @return array<int|string, int[]> target ('' for the default, else its website id) => website ids
     */
    public function catalogServed(): array
    {
        return CatalogBatch::served($this->enabledConnections());
    }

    /** @return array<int|string, array{0: string, 1: string}> '' or website id => [URL, secret] */
    private function enabledConnections(): array
    {
        $enabled = [];
        if ($this->isEnabled()) {
            $enabled[''] = [$this->endpoint(), $this->webhookSecret()];
        }
        foreach ($this->storeManager->getWebsites() as $website) {
            $id = (int) $website->getId();
            if ($this->isEnabled($id)) {
                $enabled[$id] = [$this->endpoint($id), $this->webhookSecret($id)];
            }
        }
        return $enabled;
    }

    /** Lists for the store's website hold only that website's products. */
    public function filterByWebsite(int|string|null $store = null): bool
    {
        return $this->scopeConfig->isSetFlag('dmfrec/widget/filter_by_website', ScopeInterface::SCOPE_STORE, $store);
    }

    /** The widget is shown in this store view (and has a dmfrec URL to call). */
    public function widgetEnabled(int|string|null $store = null): bool
    {
        return $this->scopeConfig->isSetFlag('dmfrec/widget/enabled', ScopeInterface::SCOPE_STORE, $store)
            && $this->widgetApiBase($store) !== '';
    }

    /** The dmfrec URL browsers call (defaults to the URL of the store's website's connection). */
    public function widgetApiBase(int|string|null $store = null): string
    {
        $url = $this->value('dmfrec/widget/api_url', ScopeInterface::SCOPE_STORE, $store);
        return rtrim($url !== '' ? $url : $this->value('dmfrec/general/endpoint', ScopeInterface::SCOPE_STORE, $store),
            '/');
    }

    /** Magento's cookie restriction mode (Stores > Configuration > General > Web > Default Cookie Settings). */
    public function cookieRestriction(int|string|null $store = null): bool
    {
        return $this->scopeConfig->isSetFlag('web/cookie/cookie_restriction', ScopeInterface::SCOPE_STORE, $store);
    }

    public function widgetLimit(int|string|null $store = null): int
    {
        return max(1, min(50, (int) $this->value('dmfrec/widget/limit', ScopeInterface::SCOPE_STORE, $store)));
    }

    public function tokenTtl(): int
    {
        return max(60, min(3600, (int) $this->value('dmfrec/widget/token_ttl')));
    }
}
