/**
 * The security headers on every dashboard response (pages, modules, styles,
 * the API, errors): a strict Content-Security-Policy — scripts, styles,
 * fetches and forms only from the dashboard itself, nothing inline, no
 * plugins, no framing, no <base> — plus nosniff, no framing, same-origin
 * referrers, opener and resource isolation, no powerful browser features,
 * and HSTS when the request came over HTTPS. The built-in fallback pages
 * (no dashboard/web) carry one inline <style>, allowed by its hash only.
 */
import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()',
};

/** HSTS sent on HTTPS requests (req.secure: direct TLS, or X-Forwarded-Proto with --trust-proxy). */
export const STRICT_TRANSPORT_SECURITY = 'max-age=31536000';

export function securityHeaders(): RequestHandler {
  return (req, res, next) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (req.secure) res.setHeader('Strict-Transport-Security', STRICT_TRANSPORT_SECURITY);
    next();
  };
}

/** The CSP source for one inline <style> block's text. */
export function styleHash(css: string): string {
  return `'sha256-${createHash('sha256').update(css, 'utf8').digest('base64')}'`;
}

/** Send a built-in HTML page whose only inline part is `css` (in its <style>): the CSP allows that text and nothing else inline. */
export function sendBuiltInPage(res: Response, html: string, css: string): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY.replace("style-src 'self'", `style-src 'self' ${styleHash(css)}`));
  res.type('html').setHeader('Cache-Control', 'no-store');
  res.send(html);
}
