<?php
/**
 * bin/magento dmfrec:outbox:retry: make every failed or waiting delivery due now, with a fresh
 * allowance of attempts, and send them (after fixing the URL or secret, for instance).
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Console\Command;

use Dmfrec\Recommendations\Model\Delivery;
use Dmfrec\Recommendations\Model\Outbox\Store;
use Symfony\Component\Console\Command\Command;
use Symfony\Component\Console\Helper\ProgressBar;
use Symfony\Component\Console\Input\InputInterface;
use Symfony\Component\Console\Output\OutputInterface;

class OutboxRetry extends Command
{
    public function __construct(private readonly Store $store, private readonly Delivery $delivery)
    {
        parent::__construct();
    }

    protected function configure(): void
    {
        $this->setName('dmfrec:outbox:retry')
            ->setDescription('Resend failed and waiting dmfrec deliveries now');
        parent::configure();
    }

    protected function execute(InputInterface $input, OutputInterface $output): int
    {
        $due = $this->store->retry(time());
        $bar = new ProgressBar($output, $due);
        $sent = $failed = 0;
        do {
            // Asked for: tried even while the breaker says dmfrec is down.
            [$s, $f] = $this->delivery->drain(200, static fn () => $bar->advance(), true);
            $sent += $s;
            $failed += $f;
        } while ($s > 0 && $sent + $failed < $due);
        $bar->finish();
        $output->writeln(sprintf("\n%d delivered, %d not delivered (dmfrec:outbox:status shows why).", $sent, $failed));
        return $failed === 0 ? Command::SUCCESS : Command::FAILURE;
    }
}
