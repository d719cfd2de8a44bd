<?php
/**
 * Snapshots waiting to reach dmfrec. Checkout only inserts a row (idempotent on event_id);
 * the cron job sends due rows with a short timeout and backs off exponentially on failure,
 * so a slow or down dmfrec never slows or fails an order.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Magento\Framework\App\ResourceConnection;
use Magento\Framework\HTTP\Client\CurlFactory;
use Psr\Log\LoggerInterface;

class Outbox
{
    private const TABLE = 'dmfrec_outbox';
    private const MAX_BACKOFF_SECONDS = 6 * 3600;

    public function __construct(
        private readonly ResourceConnection $resource,
        private readonly Config $config,
        private readonly Signer $signer,
        private readonly CurlFactory $curlFactory,
        private readonly LoggerInterface $logger
    ) {
    }

    /**
     * @param array<string, mixed> $event a SnapshotBuilder result
     */
    public function add(array $event): void
    {
        $connection = $this->resource->getConnection();
        $connection->insertOnDuplicate(
            $this->resource->getTableName(self::TABLE),
            [
                'event_id' => $event['event_id'],
                'payload' => json_encode($event, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE),
                'next_attempt_at' => gmdate('Y-m-d H:i:s'),
            ],
            []  // a known event id changes nothing
        );
    }

    /** Send up to the configured batch of due snapshots; returns how many were delivered. */
    public function drain(): int
    {
        if (!$this->config->isEnabled()) {
            return 0;
        }
        $connection = $this->resource->getConnection();
        $table = $this->resource->getTableName(self::TABLE);
        $rows = $connection->fetchAll(
            $connection->select()->from($table)
                ->where('sent_at IS NULL')
                ->where('next_attempt_at <= ?', gmdate('Y-m-d H:i:s'))
                ->order('entity_id ASC')
                ->limit($this->config->batchSize())
        );
        $sent = 0;
        foreach ($rows as $row) {
            $error = $this->send((string) $row['event_id'], (string) $row['payload']);
            if ($error === null) {
                $connection->update($table, ['sent_at' => gmdate('Y-m-d H:i:s'), 'last_error' => null],
                    ['entity_id = ?' => $row['entity_id']]);
                $sent++;
                continue;
            }
            $attempts = (int) $row['attempts'] + 1;
            $delay = min(self::MAX_BACKOFF_SECONDS, 30 * (2 ** min($attempts, 12)));
            $connection->update($table, [
                'attempts' => $attempts,
                'next_attempt_at' => gmdate('Y-m-d H:i:s', time() + $delay),
                'last_error' => substr($error, 0, 255),
            ], ['entity_id = ?' => $row['entity_id']]);
            $this->logger->warning('dmfrec: snapshot not delivered', ['event_id' => $row['event_id'],
                'attempts' => $attempts, 'error' => $error]);
        }
        return $sent;
    }

    /** null when dmfrec took it (202 new, 200 duplicate), else why not. */
    private function send(string $eventId, string $payload): ?string
    {
        try {
            $curl = $this->curlFactory->create();
            $curl->setTimeout($this->config->timeout());
            $headers = $this->signer->headers($this->config->webhookSecret(), $eventId, time(), $payload);
            $curl->setHeaders(['Content-Type' => 'application/json'] + $headers);
            $curl->post($this->config->endpoint() . '/v1/webhooks/magento/orders', $payload);
            $status = $curl->getStatus();
            if ($status === 200 || $status === 202) {
                return null;
            }
            return 'HTTP ' . $status . ': ' . substr((string) $curl->getBody(), 0, 200);
        } catch (\Throwable $e) {
            return get_class($e) . ': ' . $e->getMessage();
        }
    }
}
