// The connection side of the plain-http rule for local servers (src/core/net/address.ts): the settings accept plain
// http to loopback, private and link-local addresses and to a few names for them (localhost, host.docker.internal,
// host.containers.internal, .local); here a name is held to the same rule when it is looked up, so whatever a DNS or
// mDNS answer says (anyone on the network can answer an mDNS query), code never goes in clear to a public address.
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { plainHttpAddress, plainHttpHost } from '../../core/net/address';

/** A server reached by plain http under a name that looked up to no loopback, private or link-local address. */
export class PlainHttpRefused extends Error {
  readonly code = 'ERR_VERDANT_PLAIN_HTTP';
  constructor(
    readonly host: string,
    readonly addresses: readonly string[],
  ) {
    super(`${host} looked up to ${addresses.join(', ') || 'no address'}, none of them loopback or private`);
  }
}

/** How host names are looked up (dns.lookup's shape with `all: true`); tests stand in their own. */
export type Resolve = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A lookup for net.connect that keeps only the loopback, private and link-local addresses a name resolves to (a
 * .local name often also has a public IPv6 address: that one is dropped), and fails with PlainHttpRefused when none
 * is left, before any connection is attempted.
 */
export function privateLookup(resolve: Resolve = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const kept = addresses.filter((a) => plainHttpAddress(a.address));
      const first = kept[0];
      if (!first) {
        callback(
          new PlainHttpRefused(
            hostname,
            addresses.map((a) => a.address),
          ),
          '',
        );
      } else if (options.all) callback(null, kept);
      else callback(null, first.address, first.family);
    });
  };
}

/** What a client for `baseUrl` must do: refuse it outright (a public address over http), or look its name up privately. */
export interface PlainHttpGuard {
  /** Why nothing may be sent (only for an http URL the settings would have refused too). */
  readonly refusal?: string;
  readonly lookup?: LookupFunction;
}

export function plainHttpGuard(baseUrl: string, resolve?: Resolve): PlainHttpGuard {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return {}; // the request itself fails with the URL named
  }
  if (url.protocol !== 'http:') return {};
  const host = plainHttpHost(url.hostname);
  if (!host.ok) return { refusal: `plain http goes only to this machine or a private network, and ${host.reason}` };
  return host.lookup ? { lookup: privateLookup(resolve) } : {};
}
