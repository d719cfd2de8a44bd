<?php
/**
 * Gets messages to dmfrec: recorded in the outbox, then sent at once with a short timeout; the
 * outbox's cron drain only sends what that first try could not (dmfrec down, slow, or the
 * process ended). While dmfrec is down (the Breaker, per URL and shared by every request),
 * sends are skipped: new messages wait in the outbox, and a cron drain tries one row per URL
 * per cool-down instead of each due row paying the timeout. Each message goes to its
 * website's connection (Message::$websiteId; the outbox row keeps it for resends). Never
 * throws to its caller for an HTTP failure.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Dmfrec\Recommendations\Model\Outbox\Message;
use Dmfrec\Recommendations\Model\Outbox\Store;

class Delivery
{
    /** A row whose immediate send is under way is left to cron only after this long. */
    public const GRACE_S = 120;

    /** @var callable(): int */
    private $clock;

    public function __construct(
        private readonly Store $store,
        private readonly Sender $sender,
        private readonly Settings $settings,
        private readonly Breaker $breaker,
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
        return $this->attempt($message->subject, $message->eventId, $message->path, $message->payload,
            $this->settings->immediateTimeout(), $message->websiteId) ?? 'pending';
    }

    /**
     * Send up to the batch size of due rows; returns [sent, failed]. Rows whose dmfrec is down
     * (breaker open) are left due for a later run, unless $force (an admin's explicit retry).
     */
    public function drain(?int $limit = null, ?callable $progress = null, bool $force = false): array
    {
        $sent = $failed = 0;
        foreach ($this->store->due(($this->clock)(), $limit ?? $this->settings->batchSize()) as $row) {
            $website = isset($row['website_id']) ? (int) $row['website_id'] : null;
            $status = $this->attempt((string) $row['subject'], (string) $row['event_id'],
                (string) $row['path'], (string) $row['payload'], $this->settings->timeout(), $website, $force);
            if ($status === null) {
                continue;  // skipped: dmfrec is down
            }
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

    /** The row's status after one try, or null when the breaker skipped the try. */
    private function attempt(string $subject, string $eventId, string $path, string $payload,
                             float $timeout, ?int $websiteId, bool $force = false): ?string
    {
        $endpoint = $this->settings->endpoint($websiteId);
        if ($endpoint === '') {
            $result = new SendResult(0, 'no dmfrec URL configured for website ' . ($websiteId ?? 'default'));
        } elseif (!$force && !$this->breaker->allows($endpoint, ($this->clock)())) {
            return null;
        } else {
            $result = $this->sender->post($endpoint . $path, $this->settings->webhookSecret($websiteId), $eventId,
                $payload, $timeout, ($this->clock)());
            $this->breaker->record($endpoint, $result, ($this->clock)());
        }
        $now = ($this->clock)();
        if ($result->delivered()) {
            return $this->store->markSent($subject, $eventId, $now) ? 'sent' : 'pending';
        }
        return $this->store->markFailed($subject, $eventId, (string) $result->error, $now,
            $result->permanent()) ?? 'pending';
    }
}
