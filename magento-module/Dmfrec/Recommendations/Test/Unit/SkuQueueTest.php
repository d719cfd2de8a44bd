<?php
/**
 * The SKUs that MSI's stock changes (source items saved, deleted or decremented; salability
 * updates) queue for the catalogue sync: each once, in order, numeric SKUs as strings.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Unit;

use Dmfrec\Recommendations\Model\Catalog\SkuQueue;
use PHPUnit\Framework\TestCase;

class SkuQueueTest extends TestCase
{
    private static function sourceItem(string $sku): object
    {
        return new class($sku) {
            public function __construct(private string $sku)
            {
            }

            public function getSku(): string
            {
                return $this->sku;
            }
        };
    }

    public function testSkusAreTakenOnceInOrderAndTheQueueEmpties(): void
    {
        $queue = new SkuQueue();
        $queue->add(['B-1', ' A-2 ', 'B-1', '', '   ', null, 3.5, ['x']]);
        $queue->add(['A-2', 'C-3']);
        self::assertSame(['B-1', 'A-2', 'C-3'], $queue->take());
        self::assertSame([], $queue->take());
    }

    public function testNumericSkusThatPhpMadeIntegerKeysComeBackAsStrings(): void
    {
        $queue = new SkuQueue();
        $salability = ['12345' => false, 'MUG' => true, '007' => true];  // '12345' becomes int 12345
        $queue->add(array_keys($salability));
        self::assertSame(['12345', 'MUG', '007'], $queue->take());
    }

    public function testSourceItemsAndDecrementRowsGiveTheirSkus(): void
    {
        $queue = new SkuQueue();
        $queue->addSourceItems([self::sourceItem('TSHIRT-M'), self::sourceItem('MUG')]);
        $queue->addSourceItems([['source_item' => self::sourceItem('TSHIRT-M'), 'qty_to_decrement' => 1.0],
            ['source_item' => self::sourceItem('SOCKS'), 'qty_to_decrement' => 2.0],
            ['qty_to_decrement' => 1.0], 'not a source item', new \stdClass()]);
        self::assertSame(['TSHIRT-M', 'MUG', 'SOCKS'], $queue->take());
    }
}
