"""The security headers of every answer of the site, whoever sends it: a web instance (web/security.py)
or the public load balancer serving static files (control/lb.py). No imports, so the balancer's driver
can read them without loading the web tier.
"""

# Everything the pages use is served by this tier: scripts and styles as files under /static (no
# inline code, so an injected <script> or style attribute does nothing), images from /media and
# data: URIs (which fetch nothing from anywhere).
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}
