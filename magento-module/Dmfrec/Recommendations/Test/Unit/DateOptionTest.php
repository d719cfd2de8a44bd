<?php
/** dmfrec:backfill --from: real calendar dates only. */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Unit;

use Dmfrec\Recommendations\Model\DateOption;
use PHPUnit\Framework\TestCase;

class DateOptionTest extends TestCase
{
    public function testADateIsKeptAndNoneIsNull(): void
    {
        self::assertSame('2026-02-28', DateOption::parse('2026-02-28', '--from'));
        self::assertSame('2028-02-29', DateOption::parse('2028-02-29', '--from'));
        self::assertNull(DateOption::parse(null, '--from'));
    }

    /** @dataProvider bad */
    public function testAnythingElseIsRefusedNamingTheOption(string $value): void
    {
        $this->expectException(\InvalidArgumentException::class);
        $this->expectExceptionMessage('--from must be a date as YYYY-MM-DD, got "' . $value . '"');
        DateOption::parse($value, '--from');
    }

    /** @return array<int, array{string}> */
    public function bad(): array
    {
        return [['2026-02-31'], ['2026-2-1'], ['yesterday'], [''], ['2026-01-01 00:00'], ['01/02/2026']];
    }
}
