// Where plain http may go for a local inference server (verdant.local.serverUrl): to addresses that no router
// forwards onto the internet, by which a user reaches their own machine, the Windows host of WSL, the host of a
// dev container or VM, or another machine of theirs on the same network. Code sent there crosses at most the user's
// own network in clear (docs/SECURITY.md, "Plain http to a local server"). The cloud endpoint keeps its own, stricter
// rule: plain http only to loopback (src/core/cloud/endpoint.ts).
import { BlockList, isIP } from 'node:net';

/** What kind of network an IP address belongs to, as far as plain http is concerned. */
export type AddressScope = 'loopback' | 'private' | 'link-local' | 'shared' | 'unspecified' | 'public';

type Family = 'ipv4' | 'ipv6';
type Subnet = readonly [network: string, prefix: number, family: Family];

/** IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) match the IPv4 subnets too (node's BlockList does that). */
const SUBNETS: Readonly<Record<Exclude<AddressScope, 'public'>, readonly Subnet[]>> = {
  unspecified: [
    ['0.0.0.0', 8, 'ipv4'],
    ['::', 128, 'ipv6'],
  ],
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  // RFC 1918 and IPv6 unique local addresses (RFC 4193): routed only inside a site.
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
  // Never forwarded by any router (RFC 3927, RFC 4291).
  'link-local': [
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
  ],
  // RFC 6598 shared address space: carrier-grade NAT inside a provider's network, and Tailscale's addresses.
  shared: [['100.64.0.0', 10, 'ipv4']],
};

let lists: [Exclude<AddressScope, 'public'>, BlockList][] | undefined;

/** The scope of an IP address (no brackets); anything that is not an IP address is 'public'. */
export function addressScope(ip: string): AddressScope {
  const family = isIP(ip);
  if (family === 0) return 'public';
  lists ??= Object.entries(SUBNETS).map(([scope, subnets]) => {
    const list = new BlockList();
    for (const [network, prefix, fam] of subnets) list.addSubnet(network, prefix, fam);
    return [scope as Exclude<AddressScope, 'public'>, list];
  });
  return lists.find(([, list]) => list.check(ip, family === 4 ? 'ipv4' : 'ipv6'))?.[0] ?? 'public';
}

/** Why plain http may not go to an address of a scope; it may go to every other (loopback, private, link-local). */
const REFUSED: Partial<Record<AddressScope, (ip: string) => string>> = {
  public: (ip) => `${ip} is a public address`,
  shared: (ip) => `${ip} is in 100.64.0.0/10, shared by carrier-grade NAT and VPNs such as Tailscale, so it may cross a provider's network`,
  unspecified: (ip) => `${ip} is where a server listens, not an address to connect to`,
};

/** Whether plain http may go to this IP address (no brackets): loopback, private or link-local. */
export function plainHttpAddress(ip: string): boolean {
  return REFUSED[addressScope(ip)] === undefined;
}

/** Names by which a container or VM reaches the machine it runs on: Docker Desktop (and Docker's host-gateway), Podman. */
export const CONTAINER_HOST_NAMES = ['host.docker.internal', 'host.containers.internal'] as const;

export type PlainHttpHost =
  /** `lookup`: a name, so each address it is looked up to must pass plainHttpAddress before anything is sent. */
  { readonly ok: true; readonly lookup: boolean } | { readonly ok: false; readonly scope: AddressScope | 'name'; readonly reason: string };

/**
 * Whether plain http may go to `hostname` (a URL's hostname: IPv6 in brackets, IPv4 already in dotted form): an
 * address plainHttpAddress accepts, or a name for one (localhost, the container host names, a .local mDNS name),
 * which must then be looked up with that check (the engine does: src/engine/backends/http.ts).
 */
export function plainHttpHost(hostname: string): PlainHttpHost {
  const host = hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (isIP(host) !== 0) {
    const scope = addressScope(host);
    const why = REFUSED[scope];
    return why ? { ok: false, scope, reason: why(host) } : { ok: true, lookup: false };
  }
  const known =
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    (CONTAINER_HOST_NAMES as readonly string[]).includes(host) ||
    (host.endsWith('.local') && host.length > '.local'.length);
  if (known) return { ok: true, lookup: true };
  return {
    ok: false,
    scope: 'name',
    reason: `${host} is not this machine, a container host (${CONTAINER_HOST_NAMES.join(', ')}), a .local name or a private address`,
  };
}
