<?php
/** The config page's "Delivery status" row: pending, failed and delivered counts, recent failures. */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Block\Adminhtml\System;

use Dmfrec\Recommendations\Model\Outbox\Store;
use Magento\Backend\Block\Template\Context;
use Magento\Config\Block\System\Config\Form\Field;
use Magento\Framework\Data\Form\Element\AbstractElement;

class OutboxStatus extends Field
{
    public function __construct(Context $context, private readonly Store $store, array $data = [])
    {
        parent::__construct($context, $data);
    }

    protected function _getElementHtml(AbstractElement $element)
    {
        $e = $this->_escaper;
        $stats = $this->store->stats();
        $html = '<table class="admin__table-secondary"><tbody>';
        foreach ($stats as $status => $row) {
            $html .= '<tr><th>' . $e->escapeHtml(__(ucfirst($status))) . '</th><td>' . (int) $row['count']
                . ($row['oldest'] ? ' (' . $e->escapeHtml(__('oldest %1 UTC', $row['oldest'])) . ')' : '')
                . '</td></tr>';
        }
        $html .= '</tbody></table>';
        foreach ($this->store->failures(5) as $row) {
            $html .= '<p>' . $e->escapeHtml($row['subject'] . ': ' . $row['last_error']) . '</p>';
        }
        if ($stats['failed']['count'] > 0) {
            $html .= '<p>' . $e->escapeHtml(__('Resend with: bin/magento dmfrec:outbox:retry')) . '</p>';
        }
        return $html;
    }

    /** A status, not a setting: no "use default" checkbox. */
    protected function _isInheritCheckboxRequired(AbstractElement $element)
    {
        return false;
    }
}
