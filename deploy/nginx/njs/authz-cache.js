// The key under which nginx may keep authz's answer to an auth subrequest
// (conf.d/authz-cache.conf, snippets/authz-cache.conf): the SHA-256 of the
// request's Authorization header and the Host, so no token is written to
// the cache's files in clear. "" — no caching — for a request without one,
// or whose target or host authz might refuse or read otherwise: the cache
// serves only targets every reader reads alike (no escapes, dot segments,
// ";params", "//", backslashes, control or non-ASCII bytes), whatever the
// answer authz would give the others.
var crypto = require('crypto');

var cleanTarget = /^\/[A-Za-z0-9\-._~\/!$&'()*+,=:@]*(\?[\x21-\x7e]*)?$/;
var cleanHost = /^[A-Za-z0-9\-.]+(:[0-9]+)?$/;

function key(r) {
    var auth = r.headersIn['Authorization'];
    var target = r.variables.request_uri;
    var host = r.variables.http_host;
    if (!auth || !target || !host || !cleanTarget.test(target) || !cleanHost.test(host)) {
        return '';
    }
    var path = target.split('?')[0];
    if (path.indexOf('//') >= 0 || /\/\.\.?(\/|$)/.test(path) || path.indexOf('#') >= 0) {
        return '';
    }
    return crypto.createHash('sha256').update(auth).digest('hex') + '|' + r.variables.host;
}

export default { key };
