<?php
/**
 * PHPUnit bootstrap for the module's framework-free classes: loads Dmfrec\Recommendations\*
 * from this module (no Magento needed). Classes that use Magento are not tested here.
 */
declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $prefix = 'Dmfrec\\Recommendations\\';
    if (strncmp($class, $prefix, strlen($prefix)) === 0) {
        $file = dirname(__DIR__) . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});
