<?php
/**
 * Dmfrec_Recommendations: sends signed order snapshots to dmfrec and shows its recommendations.
 */
declare(strict_types=1);

use Magento\Framework\Component\ComponentRegistrar;

ComponentRegistrar::register(ComponentRegistrar::MODULE, 'Dmfrec_Recommendations', __DIR__);
