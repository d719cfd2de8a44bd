<?php
/**
 * The module's settings (Stores > Configuration > Services > dmfrec Recommendations); the
 * secrets are stored encrypted and decrypted only here.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Magento\Framework\App\Config\ScopeConfigInterface;
use Magento\Framework\Encryption\EncryptorInterface;
use Magento\Store\Model\ScopeInterface;

class Config
{
    public function __construct(
        private readonly ScopeConfigInterface $scopeConfig,
        private readonly EncryptorInterface $encryptor
    ) {
    }

    public function isEnabled(): bool
    {
        return $this->scopeConfig->isSetFlag('dmfrec/general/enabled');
    }

    public function endpoint(): string
    {
        return rtrim((string) $this->scopeConfig->getValue('dmfrec/general/endpoint'), '/');
    }

    public function webhookSecret(): string
    {
        return $this->encryptor->decrypt((string) $this->scopeConfig->getValue('dmfrec/general/webhook_secret'));
    }

    public function tokenSecret(): string
    {
        return $this->encryptor->decrypt((string) $this->scopeConfig->getValue('dmfrec/general/token_secret'));
    }

    public function timeout(): int
    {
        return max(1, min(30, (int) $this->scopeConfig->getValue('dmfrec/general/timeout')));
    }

    public function batchSize(): int
    {
        return max(1, (int) $this->scopeConfig->getValue('dmfrec/general/batch_size'));
    }

    public function widgetLimit(?string $store = null): int
    {
        return max(1, (int) $this->scopeConfig->getValue('dmfrec/widget/limit', ScopeInterface::SCOPE_STORE, $store));
    }

    public function tokenTtl(): int
    {
        return max(60, (int) $this->scopeConfig->getValue('dmfrec/widget/token_ttl'));
    }
}
