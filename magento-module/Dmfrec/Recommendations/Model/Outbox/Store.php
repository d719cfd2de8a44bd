<?php
/**
 * The outbox table: one row per subject, status pending -> sent | failed.
 *
 * `add` has INSERT IGNORE semantics: the same or an older message changes nothing (a pending
 * row keeps its payload and its backoff); a newer one replaces the payload and, unless the
 * row is still pending, makes it pending again with a fresh allowance of attempts. A sent
 * row keeps no payload (so no customer email) and is pruned after the retention period.
 * Times are UTC 'Y-m-d H:i:s' strings of the caller's clock.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Outbox;

use Dmfrec\Recommendations\Model\Backoff;

class Store
{
    public const TABLE = 'dmfrec_outbox';

    public function __construct(private readonly Connection $db, private readonly Backoff $backoff)
    {
    }

    private function table(): string
    {
        return $this->db->table(self::TABLE);
    }

    public static function time(int $unix): string
    {
        return gmdate('Y-m-d H:i:s', $unix);
    }

    /**
     * Record $message (due at $dueAt); returns the subject's row as it now stands.
     *
     * @return array<string, mixed>
     */
    public function add(Message $message, int $now, int $dueAt): array
    {
        // MySQL applies the assignments left to right, each seeing the ones before it:
        // the conditions read `status` and `version` before they are themselves updated.
        $newer = 'VALUES(version) > version';
        $this->db->execute(
            'INSERT INTO ' . $this->table() . ' (subject, event_id, version, path, payload, website_id,'
            . ' status, attempts, next_attempt_at, created_at, updated_at)'
            . ' VALUES (:subject, :event_id, :version, :path, :payload, :website, \'pending\', 0, :due,'
            . ' :created, :updated)'
            . ' ON DUPLICATE KEY UPDATE'
            . " attempts = IF($newer AND status <> 'pending', 0, attempts),"
            . " next_attempt_at = IF($newer AND status <> 'pending', VALUES(next_attempt_at), next_attempt_at),"
            . " last_error = IF($newer AND status <> 'pending', NULL, last_error),"
            . " sent_at = IF($newer, NULL, sent_at),"
            . " status = IF($newer, 'pending', status),"
            . " event_id = IF($newer, VALUES(event_id), event_id),"
            . " path = IF($newer, VALUES(path), path),"
            . " payload = IF($newer, VALUES(payload), payload),"
            . " website_id = IF($newer, VALUES(website_id), website_id),"
            . " updated_at = IF($newer, VALUES(updated_at), updated_at),"
            . " version = IF($newer, VALUES(version), version)",
            ['subject' => $message->subject, 'event_id' => $message->eventId,
             'version' => $message->version, 'path' => $message->path,
             'payload' => $message->payload, 'website' => $message->websiteId, 'due' => self::time($dueAt),
             'created' => self::time($now), 'updated' => self::time($now)]
        );
        return $this->get($message->subject) ?? [];
    }

    /** @return array<string, mixed>|null */
    public function get(string $subject): ?array
    {
        $rows = $this->db->fetchAll('SELECT * FROM ' . $this->table() . ' WHERE subject = :s',
            ['s' => $subject]);
        return $rows[0] ?? null;
    }

    /**
     * Pending rows due by $now, oldest first.
     *
     * @return array<int, array<string, mixed>>
     */
    public function due(int $now, int $limit): array
    {
        return $this->db->fetchAll(
            'SELECT * FROM ' . $this->table() . " WHERE status = 'pending' AND next_attempt_at <= :now"
            . ' ORDER BY next_attempt_at, entity_id LIMIT ' . max(1, $limit),
            ['now' => self::time($now)]
        );
    }

    /** Mark delivered and drop the payload; false if the row now holds a newer message. */
    public function markSent(string $subject, string $eventId, int $now): bool
    {
        return $this->db->execute(
            'UPDATE ' . $this->table() . " SET status = 'sent', sent_at = :sent, payload = NULL,"
            . ' last_error = NULL, updated_at = :upd'
            . " WHERE subject = :s AND event_id = :e AND status = 'pending'",
            ['sent' => self::time($now), 'upd' => self::time($now), 's' => $subject, 'e' => $eventId]
        ) > 0;
    }

    /**
     * Count a failed attempt: back off, or keep the row as failed once the attempts are used
     * up or the failure is permanent. Returns the row's new status (null: row replaced).
     */
    public function markFailed(string $subject, string $eventId, string $error, int $now,
                               bool $permanent = false): ?string
    {
        $row = $this->get($subject);
        if ($row === null || $row['event_id'] !== $eventId || $row['status'] !== 'pending') {
            return null;
        }
        $attempts = (int) $row['attempts'] + 1;
        $status = $permanent || $this->backoff->exhausted($attempts) ? 'failed' : 'pending';
        $this->db->execute(
            'UPDATE ' . $this->table() . ' SET attempts = :a, status = :st, last_error = :err,'
            . ' next_attempt_at = :next, updated_at = :now'
            . " WHERE subject = :s AND event_id = :e AND status = 'pending'",
            ['a' => $attempts, 'st' => $status, 'err' => mb_substr($error, 0, 255),
             'next' => self::time($now + $this->backoff->delay($attempts)),
             'now' => self::time($now), 's' => $subject, 'e' => $eventId]
        );
        return $status;
    }

    /** Delete delivered rows sent more than $days days before $now; returns how many. */
    public function prune(int $now, int $days): int
    {
        return $this->db->execute(
            'DELETE FROM ' . $this->table() . " WHERE status = 'sent' AND sent_at < :before",
            ['before' => self::time($now - max(0, $days) * 86400)]
        );
    }

    /** Make failed rows (and pending ones waiting out a backoff) due now with fresh attempts. */
    public function retry(int $now, bool $includeFailed = true): int
    {
        $statuses = $includeFailed ? "('pending', 'failed')" : "('pending')";
        return $this->db->execute(
            'UPDATE ' . $this->table() . " SET status = 'pending', attempts = 0,"
            . ' next_attempt_at = :next, updated_at = :upd WHERE status IN ' . $statuses,
            ['next' => self::time($now), 'upd' => self::time($now)]
        );
    }

    /**
     * Row counts and the oldest row per status.
     *
     * @return array<string, array{count: int, oldest: ?string}>
     */
    public function stats(): array
    {
        $out = [];
        foreach (['pending', 'failed', 'sent'] as $status) {
            $out[$status] = ['count' => 0, 'oldest' => null];
        }
        $rows = $this->db->fetchAll('SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM '
            . $this->table() . ' GROUP BY status');
        foreach ($rows as $row) {
            $out[(string) $row['status']] = ['count' => (int) $row['n'],
                'oldest' => $row['oldest'] === null ? null : (string) $row['oldest']];
        }
        return $out;
    }

    /**
     * The most recent failed rows, for the admin.
     *
     * @return array<int, array<string, mixed>>
     */
    public function failures(int $limit = 20): array
    {
        return $this->db->fetchAll('SELECT subject, event_id, attempts, last_error, updated_at FROM '
            . $this->table() . " WHERE status = 'failed' ORDER BY updated_at DESC, entity_id DESC LIMIT "
            . max(1, $limit));
    }
}
