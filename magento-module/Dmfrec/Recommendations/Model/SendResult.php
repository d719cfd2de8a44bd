<?php
/** What one HTTP delivery came to: the final status (0 = no answer) and, if it failed, why. */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class SendResult
{
    /** Answers that no resend can fix: the event itself is rejected. */
    private const PERMANENT = [400, 404, 405, 410, 413, 415, 422];

    public function __construct(
        public readonly int $status,
        public readonly ?string $error = null,
        public readonly float $seconds = 0.0
    ) {
    }

    public function delivered(): bool
    {
        return $this->error === null && $this->status >= 200 && $this->status < 300;
    }

    /** dmfrec did not answer (timeout, refused, DNS) or answered with a server error. */
    public function outage(): bool
    {
        return $this->status === 0 || $this->status >= 500;
    }

    /** A rejection that retrying cannot fix (a 401 can: the secret may be corrected). */
    public function permanent(): bool
    {
        return in_array($this->status, self::PERMANENT, true);
    }
}
