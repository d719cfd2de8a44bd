<?php
/**
 * The delivery breaker on its own: opened by consecutive outages only, shared by every request
 * through one state store, one trial per cool-down, closed by an answer, per dmfrec URL.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Unit;

use Dmfrec\Recommendations\Model\Breaker;
use Dmfrec\Recommendations\Model\SendResult;
use Dmfrec\Recommendations\Test\ArrayStateStore;
use Dmfrec\Recommendations\Test\StubSettings;
use PHPUnit\Framework\TestCase;

class BreakerTest extends TestCase
{
    private const URL = 'https://reco.example';
    private int $now = 1795750000;
    private ArrayStateStore $cache;

    protected function setUp(): void
    {
        $this->cache = new ArrayStateStore(fn () => $this->now);
    }

    /** A breaker as one PHP request builds it: its own object, the shared cache. */
    private function request(int $failures = 3, int $coolDown = 60): Breaker
    {
        return new Breaker($this->cache, new StubSettings(self::URL, 's', [], 10, $failures, $coolDown));
    }

    private static function down(): SendResult
    {
        return new SendResult(0, 'curl: Operation timed out after 2000 milliseconds');
    }

    public function testItOpensAfterConsecutiveOutagesAcrossRequests(): void
    {
        foreach ([1, 2] as $n) {
            self::assertTrue($this->request()->allows(self::URL, $this->now), "before failure $n");
            $this->request()->record(self::URL, self::down(), $this->now);
        }
        self::assertTrue($this->request()->allows(self::URL, $this->now));
        $this->request()->record(self::URL, new SendResult(503, 'HTTP 503: '), $this->now);
        self::assertFalse($this->request()->allows(self::URL, $this->now));  // 3 in a row: open
        self::assertTrue($this->request()->isOpen(self::URL, $this->now));
        self::assertFalse($this->request()->allows(self::URL, $this->now + 59));
        // Another dmfrec (another website's URL) is not affected.
        self::assertTrue($this->request()->allows('https://eu.reco.example', $this->now));
    }

    public function testAnAnswerBetweenOutagesStartsTheCountAgain(): void
    {
        $breaker = $this->request();
        $breaker->record(self::URL, self::down(), $this->now);
        $breaker->record(self::URL, self::down(), $this->now);
        // dmfrec answered: a 400 (a rejected event) or a 401 (a wrong secret) is no outage.
        $breaker->record(self::URL, new SendResult(401, 'HTTP 401: '), $this->now);
        self::assertSame([], $this->cache->entries);
        $breaker->record(self::URL, self::down(), $this->now);
        $breaker->record(self::URL, self::down(), $this->now);
        self::assertTrue($breaker->allows(self::URL, $this->now));
        // Failures long apart are forgotten (the state expires after ten cool-downs).
        $this->now += 601;
        $breaker->record(self::URL, self::down(), $this->now);
        self::assertTrue($breaker->allows(self::URL, $this->now));
        $strict = $this->request(1);  // one failure is enough with a threshold of 1
        $strict->record('https://other.example', self::down(), $this->now);
        self::assertFalse($strict->allows('https://other.example', $this->now));
    }

    public function testAfterTheCoolDownOneRequestTriesAndItsAnswerDecides(): void
    {
        for ($i = 0; $i < 3; $i++) {
            $this->request()->record(self::URL, self::down(), $this->now);
        }
        $this->now += 60;
        self::assertTrue($this->request()->allows(self::URL, $this->now));  // the trial
        self::assertFalse($this->request()->allows(self::URL, $this->now));  // the others skip
        self::assertFalse($this->request()->allows(self::URL, $this->now + 30));
        $this->request()->record(self::URL, self::down(), $this->now + 2);  // still down
        self::assertFalse($this->request()->allows(self::URL, $this->now + 61));
        self::assertTrue($this->request()->allows(self::URL, $this->now + 62));  // next trial
        $this->request()->record(self::URL, new SendResult(202), $this->now + 62);  // back
        self::assertTrue($this->request()->allows(self::URL, $this->now + 62));
        self::assertTrue($this->request()->allows(self::URL, $this->now + 62));
        self::assertFalse($this->request()->isOpen(self::URL, $this->now + 62));
    }

    public function testTheUrlIsKeyedWithoutItsTrailingSlash(): void
    {
        $this->request(1)->record(self::URL . '/', self::down(), $this->now);
        self::assertFalse($this->request(1)->allows(self::URL, $this->now));
        self::assertCount(1, $this->cache->entries);
        self::assertStringStartsWith('dmfrec_breaker_', array_key_first($this->cache->entries));
    }
}
