<?php
/**
 * Erasure calls for dmfrec's `POST /admin/erase` when a customer is deleted: one by customer
 * id and, when the email is known, one by email (their guest orders are keyed by it). The
 * email is kept in the outbox only until delivered, and never in the row's subject.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Dmfrec\Recommendations\Model\Outbox\Message;

class ErasureRequest
{
    /**
     * @param int|null $websiteId the customer's website: its dmfrec connection gets the calls
     * @return Message[]
     */
    public function messages(string $customerId, ?string $email, int $now, ?int $websiteId = null): array
    {
        $messages = [];
        if ($customerId !== '') {
            $messages[] = $this->message('customer:' . $customerId, ['customer_id' => $customerId], $now,
                $websiteId);
        }
        $email = trim((string) $email);
        if ($email !== '') {
            $key = substr(hash('sha256', strtolower($email)), 0, 32);
            $messages[] = $this->message('email:' . $key, ['email' => $email], $now, $websiteId);
        }
        return $messages;
    }

    /** @param array<string, string> $body */
    private function message(string $who, array $body, int $now, ?int $websiteId): Message
    {
        $eventId = 'erase-' . substr(hash('sha256', $who . '|' . $now), 0, 32);
        return new Message('erase:' . $who, $eventId, sprintf('%012d', $now), Message::ERASE,
            json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE), $websiteId);
    }
}
