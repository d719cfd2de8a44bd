<?php
/**
 * Gets messages to dmfrec: recorded in the outbox, then sent at once with a short timeout; the
 * outbox's cron drain only sends what that first try could not (dmfrec down, slow, or the
 * process ended). While sends are failing, new messages skip the immediate try (BREAKER_S).
 * Each message goes to its website's connection (Message::$websiteId; the outbox row keeps it
 * for resends). Never throws to its caller for an HTTP failure.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Dmfrec\Recommendations\Model\Outbox\Message;
use Dmfrec\Recommendations\Model\Outbox\Store;

class Delivery
{
    /** A row whose immediate send is under way is left to cron only after this long. */
    public const GRACE_S = 120;
    /** After a failed send, new messages skip the immediate try this long (dmfrec is down):
     *  checkouts do not each wait out a timeout; cron sends them once dmfrec answers again. */
    public const BREAKER_S = 60;

    /** @var callable(): int */
    private $clock;

    public function __construct(
        private readonly Store $store,
        private readonly Sender $sender,
        private readonly Settings $settings,
        ?callable $clock = null
    ) {
        $this->clock = $clock ?? 'time';
    }

    /**
     * Record $message and try it now unless its subject is waiting out a backoff.
     * Returns the row's status afterwards: 'sent', 'pending' or 'failed'.
     */
    public function deliver(Message $message): string
    {
        $now = ($this->clock)();
        $row = $this->store->add($message, $now, $now + self::GRACE_S);
        $fresh = ($row['event_id'] ?? null) === $message->eventId && ($row['status'] ?? null) === 'pending'
            && (int) $row['attempts'] === 0;
        if (!$fresh) {
            return (string) ($row['status'] ?? 'pending');  // older than what is queued, or backing off
        }
        if ($this->store->failedSince($now - self::BREAKER_S)) {
            return 'pending';
        }
        return $this->attempt($message->subject, $message->eventId, $message->path, $message->payload,
            $this->settings->immediateTimeout(), $message->websiteId);
    }

    /** Send up to the batch size of due rows; returns [sent, failed]. */
    public function drain(?int $limit = null, ?callable $progress = null): array
    {
        $sent = $failed = 0;
        foreach ($this->store->due(($this->clock)(), $limit ?? $this->settings->batchSize()) as $row) {
            $website = isset($row['website_id']) ? (int) $row['website_id'] : null;
            $status = $this->attempt((string) $row['subject'], (string) $row['event_id'],
                (string) $row['path'], (string) $row['payload'], $this->settings->timeout(), $website);
            $status === 'sent' ? $sent++ : $failed++;
            if ($progress !== null) {
                $progress($row, $status);
            }
        }
        return [$sent, $failed];
    }

    public function prune(): int
    {
        return $this->store->prune(($this->clock)(), $this->settings->retentionDays());
    }

    private function attempt(string $subject, string $eventId, string $path, string $payload,
                             float $timeout, ?int $websiteId): string
    {
        $endpoint = $this->settings->endpoint($websiteId);
        $result = $endpoint === ''
            ? new SendResult(0, 'no dmfrec URL configured for website ' . ($websiteId ?? 'default'))
            : $this->sender->post($endpoint . $path, $this->settings->webhookSecret($websiteId), $eventId,
                $payload, $timeout, ($this->clock)());
        $now = ($this->clock)();
        if ($result->delivered()) {
            return $this->store->markSent($subject, $eventId, $now) ? 'sent' : 'pending';
        }
        return $this->store->markFailed($subject, $eventId, (string) $result->error, $now,
            $result->permanent()) ?? 'pending';
    }
}
