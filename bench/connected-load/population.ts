import { randomBytes } from 'node:crypto';

/**
 * Who socket i is, in blocks of ten: six users with one socket each, one user with three sockets (on three
 * consecutive nodes), and one anonymous visitor. So 7 users and 1 visitor per 10 sockets; a user id is an
 * ObjectId's hex, as the platform's are.
 */
export function userOf(index: number): string | undefined {
  const block = Math.floor(index / 10);
  const place = index % 10;
  if (place === 9) return undefined;
  const user = block * 10 + (place >= 6 ? 6 : place);
  return user.toString(16).padStart(24, '0');
}

export function expectedPopulation(sockets: number): { users: number; sockets: number } {
  const users = new Set<string>();
  for (let index = 0; index < sockets; index++) {
    const user = userOf(index);
    if (user !== undefined) users.add(user);
  }
  return { users: users.size, sockets };
}

/** What a browser sends on a real site: about 1 KB of headers, a session cookie of its own, the user in `auth`. */
export function socketOf(index: number): { auth: Record<string, string>; headers: Record<string, string> } {
  const userId = userOf(index);
  const session = randomBytes(96).toString('base64url');
  const csrf = randomBytes(24).toString('hex');
  return {
    auth: userId === undefined ? {} : { userId },
    headers: {
      cookie: `_ga=GA1.2.${1e9 + index}.1765000000; _gid=GA1.2.${2e9 + index}.1765000000; session=${session}; csrftoken=${csrf}; locale=fr-FR; theme=dark; consent=analytics%3Dtrue%26ads%3Dfalse%26v%3D3`,
      'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      'accept-language': 'fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7',
      'accept-encoding': 'gzip, deflate, br, zstd',
      origin: 'https://app.example.com',
      referer: 'https://app.example.com/rooms/general?tab=members',
      'x-forwarded-for': `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}, 172.16.0.1`,
      'x-forwarded-proto': 'https',
      'x-request-id': randomBytes(16).toString('hex'),
      'sec-ch-ua': '"Chromium";v="131", "Not_A Brand";v="24"',
      'sec-ch-ua-platform': '"Linux"',
      'cache-control': 'no-cache',
    },
  };
}
