<?php
/**
 * bin/magento dmfrec:backfill [--from DATE] [--batch N]: send the snapshots of existing orders
 * (updated since DATE; all by default) in batches, with a progress bar. Safe to rerun: a
 * snapshot dmfrec already has is answered as a duplicate and counted once.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Console\Command;

use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\DateOption;
use Dmfrec\Recommendations\Model\Delivery;
use Dmfrec\Recommendations\Model\Order\SnapshotSource;
use Magento\Sales\Model\ResourceModel\Order\CollectionFactory;
use Symfony\Component\Console\Command\Command;
use Symfony\Component\Console\Helper\ProgressBar;
use Symfony\Component\Console\Input\InputInterface;
use Symfony\Component\Console\Input\InputOption;
use Symfony\Component\Console\Output\OutputInterface;

class Backfill extends Command
{
    /** Stop after this many orders in a row could not be delivered (dmfrec down). */
    private const MAX_CONSECUTIVE_FAILURES = 20;

    public function __construct(
        private readonly Config $config,
        private readonly CollectionFactory $orders,
        private readonly SnapshotSource $snapshots,
        private readonly Delivery $delivery
    ) {
        parent::__construct();
    }

    protected function configure(): void
    {
        $this->setName('dmfrec:backfill')
            ->setDescription('Send existing orders to dmfrec (batched; rerunning is safe)')
            ->addOption('from', null, InputOption::VALUE_REQUIRED, 'Only orders updated on or after this date (YYYY-MM-DD)')
            ->addOption('batch', null, InputOption::VALUE_REQUIRED, 'Orders loaded per batch', '200');
        parent::configure();
    }

    protected function execute(InputInterface $input, OutputInterface $output): int
    {
        if (!$this->config->isEnabledAnywhere()) {
            $output->writeln('<error>dmfrec is not enabled or has no URL (Stores > Configuration > Services > dmfrec Recommendations)</error>');
            return Command::FAILURE;
        }
        try {
            $from = DateOption::parse($input->getOption('from'), '--from');
        } catch (\InvalidArgumentException $e) {
            $output->writeln('<error>' . $e->getMessage() . '</error>');
            return Command::FAILURE;
        }
        $batch = (int) $input->getOption('batch');
        if ($batch < 1 || $batch > 5000) {
            $output->writeln('<error>--batch must be an integer from 1 to 5000</error>');
            return Command::FAILURE;
        }
        $count = $this->collection($from, 0, null)->getSize();
        $bar = new ProgressBar($output, $count);
        $bar->start();
        $lastId = 0;
        $sent = $queued = $failedInARow = 0;
        do {
            $page = $this->collection($from, $lastId, $batch);
            foreach ($page as $order) {
                $lastId = (int) $order->getEntityId();
                $bar->advance();
                if (!$this->config->isEnabled($this->snapshots->websiteId($order))) {
                    continue;  // its website sends nothing to dmfrec (off, or no URL)
                }
                $status = $this->delivery->deliver($this->snapshots->message($order));
                $status === 'sent' ? $sent++ : $queued++;
                $failedInARow = $status === 'sent' ? 0 : $failedInARow + 1;
                if ($failedInARow >= self::MAX_CONSECUTIVE_FAILURES) {
                    $bar->finish();
                    $output->writeln(sprintf("\n<error>dmfrec is not accepting orders; stopped after order %d. "
                        . '%d sent, %d waiting in the outbox (see dmfrec:outbox:status).</error>', $lastId, $sent, $queued));
                    return Command::FAILURE;
                }
            }
            $loaded = count($page);
            $page->clear();
        } while ($loaded === $batch);
        $bar->finish();
        $output->writeln(sprintf("\n%d orders sent, %d waiting in the outbox.", $sent, $queued));
        return Command::SUCCESS;
    }

    private function collection(?string $from, int $afterId, ?int $limit)
    {
        $collection = $this->orders->create();
        if ($from !== null) {
            $collection->addFieldToFilter('updated_at', ['gteq' => $from . ' 00:00:00']);
        }
        if ($limit !== null) {
            $collection->addFieldToFilter('entity_id', ['gt' => $afterId])
                ->setOrder('entity_id', 'ASC')
                ->setPageSize($limit)
                ->setCurPage(1);
        }
        return $collection;
    }
}
