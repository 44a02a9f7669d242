// Realistic snippets that hold secrets, one or more formats each: what a developer might select and send to a cloud
// model. Every value is fake but shaped like the real thing (alphabet, length, prefix), seeded so each run sees the
// same text, and built at run time so that secret scanners find no literal secret in this file. `secrets` must be
// gone from the redacted text; `kept` (the code around them, user names, public halves) must still be there.
import { ALNUM, BASE32, BASE64, BASE64URL, DIGITS, HEX, seededChars } from './fakeSecrets';

export interface SecretSample {
  readonly name: string;
  readonly text: string;
  readonly secrets: readonly string[];
  readonly kept: readonly string[];
}

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

/** Fake values of each format; `seed` varies them so that two in one sample differ. */
const fake = {
  awsId: (seed: number) => 'AKIA' + seededChars(16, BASE32, seed),
  awsSecret: (seed: number) => seededChars(40, BASE64, seed),
  hex: (n: number, seed: number) => seededChars(n, HEX, seed),
  alnum: (n: number, seed: number) => seededChars(n, ALNUM, seed),
  urlsafe: (n: number, seed: number) => seededChars(n, BASE64URL, seed),
  digits: (n: number, seed: number) => String(1 + (seed % 9)) + seededChars(n - 1, DIGITS, seed),
  password: (seed: number) => seededChars(6, ALNUM, seed) + '!' + seededChars(5, ALNUM, seed + 1000) + '7',
  pemBody: (seed: number, lines = 8) => Array.from({ length: lines }, (_, i) => seededChars(64, BASE64, seed + i)).join('\n'),
};

function pem(label: string, seed: number): string {
  const dashes = '-'.repeat(5);
  return `${dashes}BEGIN ${label}${dashes}\n${fake.pemBody(seed)}\n${dashes}END ${label}${dashes}\n`;
}

const base64 = (s: string) => Buffer.from(s).toString('base64');

/** xs.map(f), typed as a tuple as long as xs (the samples destructure it). */
function mapTuple<const A extends readonly unknown[], R>(xs: A, f: (x: A[number], i: number) => R): { -readonly [K in keyof A]: R } {
  return xs.map(f) as { -readonly [K in keyof A]: R };
}

function awsSamples(): SecretSample[] {
  const [id1, id2, id3, id4] = mapTuple([1, 2, 3, 4], fake.awsId);
  const [s1, s2, s3, s4] = mapTuple([11, 12, 13, 14], fake.awsSecret);
  return [
    {
      name: 'AWS: boto3 client, keys passed positionally',
      text: `import boto3\n\ns3 = boto3.client('s3', 'us-east-1', None, True, True, None, '${id1}', '${s1}')\ns3.list_buckets()\n`,
      secrets: [id1, s1],
      kept: ["boto3.client('s3', 'us-east-1', None, True, True, None, '", 's3.list_buckets()'],
    },
    {
      name: 'AWS: Go static credentials',
      text: `sess := session.Must(session.NewSession(&aws.Config{\n\tRegion:      aws.String("eu-west-1"),\n\tCredentials: credentials.NewStaticCredentials("${id2}", "${s2}", ""),\n}))\n`,
      secrets: [id2, s2],
      kept: ['credentials.NewStaticCredentials("', 'aws.String("eu-west-1")'],
    },
    {
      name: 'AWS: JavaScript SDK v2 credentials object',
      text: `const creds = new AWS.Credentials('${id3}', '${s3}');\nAWS.config.update({ region: 'eu-central-1', credentials: creds });\n`,
      secrets: [id3, s3],
      kept: ['new AWS.Credentials(', "region: 'eu-central-1'"],
    },
    {
      name: 'AWS: credentials file',
      text: `[default]\naws_access_key_id = ${id4}\naws_secret_access_key = ${s4}\nregion = us-west-2\n`,
      secrets: [id4, s4],
      kept: ['[default]', 'region = us-west-2'],
    },
  ];
}

function slackSamples(): SecretSample[] {
  const bot = ['xoxb', fake.digits(12, 21), fake.digits(13, 22), fake.alnum(24, 23)].join('-');
  const user = ['xoxp', fake.digits(12, 24), fake.digits(12, 25), fake.digits(12, 26), fake.hex(32, 27)].join('-');
  const app = ['xapp', '1', 'A0' + seededChars(9, BASE32.slice(0, 26) + DIGITS, 28), fake.digits(13, 29), fake.hex(64, 30)].join('-');
  const hookPath = `T0${seededChars(8, 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789', 31)}/B0${seededChars(8, 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789', 32)}/${fake.alnum(24, 33)}`;
  const workflowPath = `T0${seededChars(8, 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789', 34)}/A0${seededChars(9, 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789', 35)}/${fake.digits(18, 36)}/${fake.alnum(32, 37)}`;
  const hooks = 'https://hooks.slack' + '.com';
  return [
    {
      name: 'Slack: bot token passed to the client',
      text: `from slack_sdk import WebClient\n\nclient = WebClient(${JSON.stringify(bot)})\nclient.chat_postMessage(channel="#deploys", text="done")\n`,
      secrets: [bot],
      kept: ['client = WebClient("', 'channel="#deploys"'],
    },
    {
      name: 'Slack: user token in a JSON config',
      text: `{\n  "workspace": "acme",\n  "user": ${JSON.stringify(user)}\n}\n`,
      secrets: [user],
      kept: ['"workspace": "acme"'],
    },
    {
      name: 'Slack: app-level token for Socket Mode',
      text: `from slack_bolt.adapter.socket_mode import SocketModeHandler\n\nif __name__ == "__main__":\n    SocketModeHandler(app, "${app}").start()\n`,
      secrets: [app],
      kept: ['SocketModeHandler(app, "', '").start()'],
    },
    {
      name: 'Slack: incoming webhook URL',
      text: `requests.post("${hooks}/services/${hookPath}", json={"text": message}, timeout=5)\n`,
      secrets: [hookPath],
      kept: [`requests.post("${hooks}/services/`, 'json={"text": message}'],
    },
    {
      name: 'Slack: workflow webhook URL',
      text: `await fetch('${hooks}/workflows/${workflowPath}', {\n  method: 'POST',\n  body: JSON.stringify({ release: version }),\n});\n`,
      secrets: [workflowPath],
      kept: [`await fetch('${hooks}/workflows/`, "method: 'POST'"],
    },
  ];
}

function googleSamples(): SecretSample[] {
  const clientId = `${fake.digits(12, 40)}-${seededChars(32, 'abcdefghijklmnopqrstuvwxyz0123456789', 41)}.apps.googleusercontent.com`;
  const secret1 = 'GOCSPX-' + fake.urlsafe(28, 42);
  const secret2 = 'GOCSPX-' + fake.urlsafe(28, 43);
  const token1 = 'ya29.a0' + fake.urlsafe(150, 44);
  const token2 = 'ya29.c.' + fake.urlsafe(120, 45);
  const apiKey = 'AIza' + 'Sy' + fake.urlsafe(33, 46);
  return [
    {
      name: 'Google: OAuth client secret passed positionally',
      text: `flow = OAuth2WebServerFlow('${clientId}', '${secret1}', scope='openid email', redirect_uri=REDIRECT)\n`,
      secrets: [secret1],
      kept: [clientId, "scope='openid email'"],
    },
    {
      name: 'Google: client_secret.json',
      text: JSON.stringify(
        { web: { client_id: clientId, project_id: 'acme-prod', client_secret: secret2, redirect_uris: ['https://acme.example/cb'] } },
        null,
        2,
      ),
      secrets: [secret2],
      kept: [clientId, '"project_id": "acme-prod"'],
    },
    {
      name: 'Google: OAuth access token without a name',
      text: `creds = google.oauth2.credentials.Credentials('${token1}')\nservice = build('drive', 'v3', credentials=creds)\n`,
      secrets: [token1],
      kept: ['google.oauth2.credentials.Credentials(', "build('drive', 'v3', credentials=creds)"],
    },
    {
      name: 'Google: service-account access token in a curl header',
      text: `curl -H "Authorization: Bearer ${token2}" \\\n  https://www.googleapis.com/storage/v1/b/acme-backups/o\n`,
      secrets: [token2],
      kept: ['curl -H "Authorization: Bearer ', 'https://www.googleapis.com/storage/v1/b/acme-backups/o'],
    },
    {
      name: 'Google: Maps API key in a script tag',
      text: `<script async src="https://maps.googleapis.com/maps/api/js?key=${apiKey}&callback=initMap"></script>\n`,
      secrets: [apiKey],
      kept: ['&callback=initMap'],
    },
  ];
}

function kubernetesSamples(): SecretSample[] {
  const cert = base64(pem('CERTIFICATE', 50));
  const key = base64(pem('PRIVATE KEY', 60));
  const rsaKey = base64(pem('RSA PRIVATE KEY', 70));
  const password = fake.password(51);
  const dockerConfig = base64(JSON.stringify({ auths: { 'registry.acme.example': { username: 'ci', password, auth: base64('ci:' + password) } } }));
  const legacyConfig = base64(
    JSON.stringify({ 'https://index.docker.io/v1/': { auth: base64('acme:' + fake.password(52)), email: 'ci@acme.example' } }),
  );
  return [
    {
      name: 'Kubernetes: TLS Secret (tls.key is a base64 PEM private key)',
      text: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-tls\n  namespace: prod\ntype: kubernetes.io/tls\ndata:\n  tls.crt: ${cert}\n  tls.key: ${key}\n`,
      secrets: [key],
      kept: ['type: kubernetes.io/tls', `tls.crt: ${cert}`, 'tls.key: '],
    },
    {
      name: 'Kubernetes: Secret with an ssh private key in data',
      text: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: git-ssh\ndata:\n  ssh-privatekey: ${rsaKey}\n`,
      secrets: [rsaKey],
      kept: ['name: git-ssh'],
    },
    {
      name: 'Kubernetes: image pull Secret (.dockerconfigjson)',
      text: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: ${dockerConfig}\n`,
      secrets: [dockerConfig],
      kept: ['type: kubernetes.io/dockerconfigjson', '.dockerconfigjson: '],
    },
    {
      name: 'Kubernetes: legacy .dockercfg Secret',
      text: `kind: Secret\ntype: kubernetes.io/dockercfg\ndata:\n  .dockercfg: "${legacyConfig}"\n`,
      secrets: [legacyConfig],
      kept: ['type: kubernetes.io/dockercfg'],
    },
  ];
}

function hexKeySamples(): SecretSample[] {
  const [k1, k2, k3, k4] = mapTuple([80, 81, 82, 83], (seed) => fake.hex(64, seed));
  return [
    {
      name: 'A bare 64-hex AES key',
      text: `from Crypto.Cipher import AES\n\ncipher = AES.new(bytes.fromhex('${k1}'), AES.MODE_GCM)\n`,
      secrets: [k1],
      kept: ['cipher = AES.new(bytes.fromhex(', 'AES.MODE_GCM)'],
    },
    {
      name: 'A bare 64-hex HMAC key',
      text: `const signature = crypto.createHmac('sha256', '${k2}').update(body).digest('hex');\n`,
      secrets: [k2],
      kept: ["crypto.createHmac('sha256', '", "').update(body).digest('hex');"],
    },
    {
      name: 'Bare 64-hex keys in a rotation list',
      text: `{\n  "issuer": "acme",\n  "keys": ["${k3}", "${k4}"]\n}\n`,
      secrets: [k3, k4],
      kept: ['"issuer": "acme"', '"keys": ["'],
    },
  ];
}

function passwordSamples(): SecretSample[] {
  const [p1, p2, p3, p4, p5, p6] = mapTuple([90, 91, 92, 93, 94, 95], fake.password);
  return [
    {
      name: 'curl -u user:pass',
      text: `curl -u deploy:${p1} https://nexus.acme.example/service/rest/v1/repositories\n`,
      secrets: [p1],
      kept: ['curl -u deploy:', 'https://nexus.acme.example/service/rest/v1/repositories'],
    },
    {
      name: 'curl --user quoted, on a continued line',
      text: `curl -s -X POST \\\n  --user 'api:${p2}' \\\n  https://api.mailgun.net/v3/mg.acme.example/messages \\\n  -F to=ops@acme.example\n`,
      secrets: [p2],
      kept: ["--user 'api:", 'https://api.mailgun.net/v3/mg.acme.example/messages'],
    },
    {
      name: 'Python requests auth tuple',
      text: `r = requests.get('https://api.acme.example/v1/orders', auth=('svc-orders', '${p3}'), timeout=10)\nr.raise_for_status()\n`,
      secrets: [p3],
      kept: ["auth=('svc-orders', '", 'timeout=10'],
    },
    {
      name: 'Python HTTPBasicAuth with a variable user',
      text: `from requests.auth import HTTPBasicAuth\n\nsession.auth = HTTPBasicAuth(username, "${p4}")\n`,
      secrets: [p4],
      kept: ['HTTPBasicAuth(username, "'],
    },
    {
      name: 'Database URL',
      text: `DATABASE_URL = "postgresql://orders:${p5}@db.internal:5432/orders"\n`,
      secrets: [p5],
      kept: ['postgresql://orders:', '@db.internal:5432/orders'],
    },
    {
      name: 'YAML password',
      text: `spring:\n  datasource:\n    url: jdbc:postgresql://db:5432/app\n    username: app\n    password: ${p6}\n`,
      secrets: [p6],
      kept: ['username: app', 'url: jdbc:postgresql://db:5432/app'],
    },
  ];
}

function messagingSamples(): SecretSample[] {
  const sendgrid = `SG.${fake.urlsafe(22, 100)}.${fake.urlsafe(43, 101)}`;
  const accountSid = 'AC' + fake.hex(32, 102);
  const authToken = fake.hex(32, 103);
  const apiKeySid = 'SK' + fake.hex(32, 104);
  const apiKeySecret = fake.alnum(32, 105);
  // The bot id before the ':' is public (it is the bot's user id); the secret is after it.
  const [botId1, botId2] = [fake.digits(10, 106), fake.digits(9, 108)];
  const [telegram1, telegram2] = [`AA${fake.urlsafe(33, 107)}`, `AA${fake.urlsafe(33, 109)}`];
  const discordId = base64(fake.digits(19, 110)).replace(/=+$/, '');
  const discordBot = `${discordId}.${fake.urlsafe(6, 111)}.${fake.urlsafe(38, 112)}`;
  const discordHook = `${fake.digits(19, 113)}/${fake.urlsafe(68, 114)}`;
  return [
    {
      name: 'SendGrid API key',
      text: `sg = SendGridAPIClient('${sendgrid}')\nresponse = sg.send(message)\n`,
      secrets: [sendgrid],
      kept: ['sg = SendGridAPIClient(', 'response = sg.send(message)'],
    },
    {
      name: 'Twilio: account SID and auth token',
      text: `from twilio.rest import Client\n\nclient = Client('${accountSid}', '${authToken}')\nclient.messages.create(to='+15558675310', from_='+15017122661', body='Hi')\n`,
      secrets: [authToken],
      kept: [`Client('${accountSid}', '`, "body='Hi'"],
    },
    {
      name: 'Twilio: API key SID and secret',
      text: `const client = twilio('${apiKeySid}', '${apiKeySecret}', { accountSid: '${accountSid}' });\n`,
      secrets: [apiKeySid, apiKeySecret],
      kept: ['const client = twilio(', `accountSid: '${accountSid}'`],
    },
    {
      name: 'Telegram bot token',
      text: `import telebot\n\nbot = telebot.TeleBot("${botId1}:${telegram1}")\nbot.infinity_polling()\n`,
      secrets: [telegram1],
      kept: [`bot = telebot.TeleBot("${botId1}:`, 'bot.infinity_polling()'],
    },
    {
      name: 'Telegram Bot API URL',
      text: `curl "https://api.telegram.org/bot${botId2}:${telegram2}/sendMessage?chat_id=42&text=deployed"\n`,
      secrets: [telegram2],
      kept: [`https://api.telegram.org/bot${botId2}:`, '/sendMessage?chat_id=42&text=deployed'],
    },
    {
      name: 'Discord bot token',
      text: `client = discord.Client(intents=intents)\nclient.run('${discordBot}')\n`,
      secrets: [discordBot],
      kept: ['client = discord.Client(intents=intents)', 'client.run('],
    },
    {
      name: 'Discord webhook URL',
      text: `webhook = DiscordWebhook(url='https://discord.com/api/webhooks/${discordHook}', content='Build passed')\n`,
      secrets: [discordHook],
      kept: ["webhook = DiscordWebhook(url='https://discord.com/api/webhooks/", "content='Build passed'"],
    },
  ];
}

function platformSamples(): SecretSample[] {
  const [dop, doo, dor] = mapTuple(['dop', 'doo', 'dor'], (p, i) => `${p}_v1_${fake.hex(64, 120 + i)}`);
  const [shpat, shpca, shppa, shpss] = mapTuple(['shpat', 'shpca', 'shppa', 'shpss'], (p, i) => `${p}_${fake.hex(32, 130 + i)}`);
  const agePublic = 'age1' + seededChars(58, BECH32, 140);
  const ageSecret = 'AGE-SECRET-KEY-1' + seededChars(58, BECH32.toUpperCase(), 141);
  return [
    {
      name: 'DigitalOcean personal access token on the command line',
      text: `doctl auth init --context ci --access-token ${dop}\ndoctl kubernetes cluster list\n`,
      secrets: [dop],
      kept: ['doctl auth init --context ci --access-token ', 'doctl kubernetes cluster list'],
    },
    {
      name: 'DigitalOcean OAuth access and refresh tokens',
      text: `tokens = OAuthTokens("${doo}", "${dor}", expires_in=2592000)\n`,
      secrets: [doo, dor],
      kept: ['tokens = OAuthTokens("', 'expires_in=2592000'],
    },
    {
      name: 'Shopify admin API access token',
      text: `session = shopify.Session('acme.myshopify.com', '2024-01', '${shpat}')\nshopify.ShopifyResource.activate_session(session)\n`,
      secrets: [shpat],
      kept: ["shopify.Session('acme.myshopify.com', '2024-01', '"],
    },
    {
      name: 'Shopify custom app, private app and shared secret',
      text: `const stores = [\n  { shop: 'one', token: '${shpca}' },\n  { shop: 'two', token: '${shppa}' },\n];\nconst valid = verifyHmac(query, '${shpss}');\n`,
      secrets: [shpca, shppa, shpss],
      kept: ["{ shop: 'one', token: '", 'const valid = verifyHmac(query, '],
    },
    {
      name: 'age identity file',
      text: `# created: 2024-05-01T10:00:00Z\n# public key: ${agePublic}\n${ageSecret}\n`,
      secrets: [ageSecret],
      kept: [`# public key: ${agePublic}`],
    },
  ];
}

function developerSamples(): SecretSample[] {
  const ghp = 'ghp_' + fake.alnum(36, 150);
  const glpat = 'glpat-' + fake.urlsafe(20, 151);
  const stripe = 'sk_' + 'live_' + fake.alnum(99, 152);
  const openai = 'sk-proj-' + fake.urlsafe(48, 153) + 'T3BlbkFJ' + fake.urlsafe(48, 154);
  const anthropic = 'sk-ant-api03-' + fake.urlsafe(93, 155) + 'AA';
  const hf = 'hf_' + fake.alnum(34, 156);
  const npm = 'npm_' + fake.alnum(36, 157);
  const pypi = 'pypi-AgEIcHlwaS5vcmc' + fake.urlsafe(70, 158);
  const jwt = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${base64(JSON.stringify({ sub: fake.digits(10, 159), iat: 1716800000 })).replace(/=+$/, '')}.${fake.urlsafe(43, 160)}`;
  const azure = fake.alnum(86, 161) + '==';
  const sas = fake.alnum(40, 162) + '%3D';
  const pemKey = pem('OPENSSH PRIVATE KEY', 163);
  const basicPassword = fake.password(164);
  const basic = base64('deploy:' + basicPassword);
  const bearer = fake.urlsafe(40, 165);
  const django = 'django-insecure-' + fake.urlsafe(50, 166);
  return [
    {
      name: 'GitHub token in a clone URL',
      text: `git clone https://${ghp}@github.com/acme/infra.git\n`,
      secrets: [ghp],
      kept: ['git clone https://', '@github.com/acme/infra.git'],
    },
    {
      name: 'GitLab token in a header',
      text: `curl --header "PRIVATE-TOKEN: ${glpat}" "https://gitlab.com/api/v4/projects?owned=true"\n`,
      secrets: [glpat],
      kept: ['curl --header "PRIVATE-TOKEN: '],
    },
    {
      name: 'Stripe live key',
      text: `const stripe = require('stripe')('${stripe}');\n`,
      secrets: [stripe],
      kept: ["const stripe = require('stripe')('"],
    },
    { name: 'OpenAI key', text: `client = OpenAI(api_key="${openai}")\n`, secrets: [openai], kept: ['client = OpenAI(api_key="'] },
    {
      name: 'Anthropic key',
      text: `const anthropic = new Anthropic({ apiKey: '${anthropic}' });\n`,
      secrets: [anthropic],
      kept: ['const anthropic = new Anthropic({ apiKey: '],
    },
    {
      name: 'Hugging Face token on the command line',
      text: `huggingface-cli login --token ${hf} --add-to-git-credential\n`,
      secrets: [hf],
      kept: ['huggingface-cli login --token ', ' --add-to-git-credential'],
    },
    {
      name: 'npm token in .npmrc',
      text: `//registry.npmjs.org/:_authToken=${npm}\nalways-auth=true\n`,
      secrets: [npm],
      kept: ['//registry.npmjs.org/:_authToken=', 'always-auth=true'],
    },
    {
      name: 'PyPI token for twine',
      text: `twine upload -u __token__ -p ${pypi} dist/*\n`,
      secrets: [pypi],
      kept: ['twine upload -u __token__ -p ', ' dist/*'],
    },
    {
      name: 'JWT in browser storage',
      text: `localStorage.setItem('session', '${jwt}');\n`,
      secrets: [jwt],
      kept: ["localStorage.setItem('session', '"],
    },
    {
      name: 'Azure storage connection string',
      text: `conn = "DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey=${azure};EndpointSuffix=core.windows.net"\n`,
      secrets: [azure],
      kept: ['AccountName=acmelogs;AccountKey=', ';EndpointSuffix=core.windows.net'],
    },
    {
      name: 'Azure SAS URL',
      text: `https://acmelogs.blob.core.windows.net/logs?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2025-01-01T00:00:00Z&sig=${sas}\n`,
      secrets: [sas],
      kept: ['https://acmelogs.blob.core.windows.net/logs?sv=2022-11-02'],
    },
    {
      name: 'OpenSSH private key in a string',
      text: `DEPLOY_KEY = """\n${pemKey}"""\n`,
      secrets: [pemKey.split('\n')[1]!, pemKey.split('\n')[0]!],
      kept: ['DEPLOY_KEY = """'],
    },
    {
      name: 'Basic auth header',
      text: `headers = {"Authorization": "Basic ${basic}", "Accept": "application/json"}\n`,
      secrets: [basic],
      kept: ['"Accept": "application/json"'],
    },
    {
      name: 'Bearer token in fetch',
      text: `fetch(url, { headers: { Authorization: 'Bearer ${bearer}' } });\n`,
      secrets: [bearer],
      kept: ['fetch(url, { headers: { Authorization: '],
    },
    { name: 'Django secret key', text: `SECRET_KEY = '${django}'\nDEBUG = False\n`, secrets: [django], kept: ['SECRET_KEY = ', 'DEBUG = False'] },
  ];
}

/** Every sample, grouped by where the secrets come from. */
export function secretSamples(): SecretSample[] {
  return [
    ...awsSamples(),
    ...slackSamples(),
    ...googleSamples(),
    ...kubernetesSamples(),
    ...hexKeySamples(),
    ...passwordSamples(),
    ...messagingSamples(),
    ...platformSamples(),
    ...developerSamples(),
  ];
}
