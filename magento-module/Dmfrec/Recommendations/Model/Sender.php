<?php
/**
 * Sends one signed JSON body to dmfrec with PHP's curl extension, no framework needed.
 *
 * `Expect:` is sent empty so curl never waits for (or reports) an interim `100 Continue`,
 * and the status read is the final response's (CURLINFO_RESPONSE_CODE). Timeouts are in
 * seconds with millisecond precision: the checkout path uses a short one.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class Sender
{
    public function __construct(private readonly Signer $signer = new Signer())
    {
    }

    public function post(string $url, string $secret, string $msgId, string $body, float $timeoutS,
                         ?int $now = null): SendResult
    {
        $headers = ['Content-Type: application/json', 'Expect:', 'User-Agent: dmfrec-magento/1'];
        foreach ($this->signer->headers($secret, $msgId, $now ?? time(), $body) as $name => $value) {
            $headers[] = $name . ': ' . $value;
        }
        $timeoutMs = max(100, (int) round($timeoutS * 1000));
        $started = microtime(true);
        $ch = curl_init($url);
        if ($ch === false) {
            return new SendResult(0, 'curl_init failed');
        }
        curl_setopt_array($ch, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_NOSIGNAL => true,
            CURLOPT_CONNECTTIMEOUT_MS => min($timeoutMs, 1000),
            CURLOPT_TIMEOUT_MS => $timeoutMs,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
        ]);
        $response = curl_exec($ch);
        $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        $error = $response === false ? 'curl: ' . curl_error($ch) : null;
        curl_close($ch);
        $seconds = microtime(true) - $started;
        if ($error !== null) {
            return new SendResult($status, $error, $seconds);
        }
        if ($status < 200 || $status >= 300) {
            return new SendResult($status, 'HTTP ' . $status . ': ' . substr((string) $response, 0, 200),
                $seconds);
        }
        return new SendResult($status, null, $seconds);
    }
}
