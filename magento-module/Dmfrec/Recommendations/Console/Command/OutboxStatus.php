<?php
/**
 * bin/magento dmfrec:outbox:status: pending, failed and delivered counts, recent failures, and
 * each dmfrec whose sends are paused by the breaker (not answering).
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Console\Command;

use Dmfrec\Recommendations\Model\Breaker;
use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\Outbox\Store;
use Symfony\Component\Console\Command\Command;
use Symfony\Component\Console\Helper\Table;
use Symfony\Component\Console\Input\InputInterface;
use Symfony\Component\Console\Output\OutputInterface;

class OutboxStatus extends Command
{
    public function __construct(
        private readonly Store $store,
        private readonly Config $config,
        private readonly Breaker $breaker
    ) {
        parent::__construct();
    }

    protected function configure(): void
    {
        $this->setName('dmfrec:outbox:status')
            ->setDescription('Show the dmfrec delivery outbox: pending, failed, delivered');
        parent::configure();
    }

    protected function execute(InputInterface $input, OutputInterface $output): int
    {
        $table = new Table($output);
        $table->setHeaders(['status', 'rows', 'oldest (UTC)']);
        foreach ($this->store->stats() as $status => $row) {
            $table->addRow([$status, $row['count'], $row['oldest'] ?? '-']);
        }
        $table->render();
        $failures = $this->store->failures();
        if ($failures) {
            $output->writeln('Failed deliveries (resend with dmfrec:outbox:retry):');
            $list = new Table($output);
            $list->setHeaders(['subject', 'event id', 'attempts', 'last error', 'updated (UTC)']);
            foreach ($failures as $row) {
                $list->addRow([$row['subject'], $row['event_id'], $row['attempts'], $row['last_error'], $row['updated_at']]);
            }
            $list->render();
        }
        foreach (array_unique(array_map([$this->config, 'endpoint'], $this->config->catalogTargets())) as $url) {
            if ($this->breaker->isOpen($url, time())) {
                $output->writeln("$url is not answering: sends to it are paused (checkouts do not wait;"
                    . ' cron tries it again after the pause).');
            }
        }
        return Command::SUCCESS;
    }
}
