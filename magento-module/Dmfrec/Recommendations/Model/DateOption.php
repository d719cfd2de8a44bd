<?php
/** A YYYY-MM-DD command-line date, checked strictly (2026-02-31 is refused, not rolled over). */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class DateOption
{
    /** The date as given, or null when not given; \InvalidArgumentException names the problem. */
    public static function parse(?string $value, string $option): ?string
    {
        if ($value === null) {
            return null;
        }
        $date = \DateTimeImmutable::createFromFormat('!Y-m-d', $value, new \DateTimeZone('UTC'));
        if ($date === false || $date->format('Y-m-d') !== $value) {
            throw new \InvalidArgumentException(sprintf('%s must be a date as YYYY-MM-DD, got "%s"', $option, $value));
        }
        return $value;
    }
}
