<?php
/**
 * The storefront widget's guest session id, as the order carries it (framework-free).
 *
 * The widget keeps the random session id dmfrec minted (`s.<random>.<mac>`) in the
 * first-party cookie `dmfrec_session`; at checkout the module stamps it on the order
 * (sales_order.dmfrec_session_id) and every snapshot of the order sends it as `session_id`,
 * so dmfrec attributes the order to the recommendations clicked in that browser session, for
 * guests too. Only a well-formed id is taken, and only from a shopper's request (storefront,
 * its REST checkout, GraphQL): an order placed in the admin or by cron gets none.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class GuestSession
{
    public const COOKIE = 'dmfrec_session';
    public const COLUMN = 'dmfrec_session_id';
    private const FORMAT = '/^s\.[A-Za-z0-9_-]+\.[0-9a-f]+$/D';
    private const MAX_LENGTH = 64;
    private const SHOPPER_AREAS = ['frontend', 'webapi_rest', 'graphql'];

    /** The id if `$value` is one dmfrec could have minted, else null. */
    public function valid(mixed $value): ?string
    {
        if (!is_string($value) || strlen($value) > self::MAX_LENGTH
            || preg_match(self::FORMAT, $value) !== 1) {
            return null;
        }
        return $value;
    }

    /** What to stamp on an order placed in `$area` with this cookie value (null: nothing). */
    public function fromCookie(mixed $cookie, ?string $area): ?string
    {
        return in_array($area, self::SHOPPER_AREAS, true) ? $this->valid($cookie) : null;
    }
}
