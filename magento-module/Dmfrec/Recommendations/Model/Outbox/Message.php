<?php
/**
 * One thing to tell dmfrec. `subject` names what it is about ("order:1201"): the outbox keeps
 * one row per subject, and `version` (compared as a string) decides which of two messages
 * about the same subject is newer. `websiteId` picks the website's dmfrec connection (URL and
 * signing secret, which may be set per website); null: the default one.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Outbox;

class Message
{
    public const ORDERS = '/v1/webhooks/magento/orders';
    public const PRODUCTS = '/v1/webhooks/magento/products';
    public const ERASE = '/admin/erase';

    public function __construct(
        public readonly string $subject,
        public readonly string $eventId,
        public readonly string $version,
        public readonly string $path,
        public readonly string $payload,
        public readonly ?int $websiteId = null
    ) {
    }
}
