<?php
/** The private section data and the public widget configuration. */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Unit;

use Dmfrec\Recommendations\Model\SectionData;
use Dmfrec\Recommendations\Model\TokenMinter;
use Dmfrec\Recommendations\Model\WidgetConfig;
use PHPUnit\Framework\TestCase;

class StorefrontTest extends TestCase
{
    public function testACustomerGetsATokenForThemselvesAndAGuestNothing(): void
    {
        $data = (new SectionData())->build('42', 'token-secret', 600, 1795750000);
        self::assertSame(['customer_id' => '42',
            'token' => (new TokenMinter())->mint('token-secret', '42', 1795750600),
            'expires' => 1795750600], $data);
        self::assertSame([], (new SectionData())->build(null, 'token-secret', 600, 1795750000));
        self::assertSame([], (new SectionData())->build('42', '', 600, 1795750000));  // no secret: popular
    }

    public function testTheWidgetConfigurationIsPublicAndEscapedForAnAttribute(): void
    {
        $json = (new WidgetConfig())->json('https://reco.example/', 99, 2, "https://shop.example/dmfrec/products/info?a='b'&c=<d>");
        self::assertStringNotContainsString("'", $json);
        self::assertStringNotContainsString('<', $json);
        self::assertSame(['api' => 'https://reco.example', 'limit' => 50, 'website' => 2,
            'productsUrl' => "https://shop.example/dmfrec/products/info?a='b'&c=<d>",
            'sessionCookieConsent' => null], json_decode($json, true));
        // Cookie restriction mode: the website whose consent the session cookie waits for.
        $restricted = json_decode((new WidgetConfig())->json('https://reco.example', 6, null, '', 3), true);
        self::assertSame(3, $restricted['sessionCookieConsent']);
    }
}
