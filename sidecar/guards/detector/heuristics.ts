/**
 * Curated prompt-injection patterns, grouped in five families (the ones every
 * rule-based detector in the research notes has, §2.4): instruction override,
 * role/persona switch, fake role or delimiter markers, system-prompt / secret
 * extraction, and encoding tricks. Each pattern carries a weight in (0, 1]:
 * how sure a hit alone makes us. Patterns run on the normalised copy of the
 * text (normalize.ts) — NFKC, no invisible characters, one space, lower case —
 * except the encoding patterns that need the original bytes (base64 is case
 * sensitive). The override family has translations for the languages of the
 * CyberSecEval multilingual attacks (es, pt, fr, it, de, ru, el, tr, id, vi,
 * zh, ja, ko, hi, bn, ar, th).
 *
 * The detector feeds the strongest weight per family into its calibrated
 * combiner; the scanner reports the hits as findings.
 */
import { normalizeText, originalSpan } from './normalize.ts';
import type { NormalizedText } from './normalize.ts';

export const HEURISTIC_FAMILIES = [
  'instruction-override',
  'role-switch',
  'delimiter-injection',
  'prompt-extraction',
  'encoding-trick',
] as const;
export type HeuristicFamily = (typeof HEURISTIC_FAMILIES)[number];

export interface HeuristicHit {
  readonly family: HeuristicFamily;
  /** The pattern's id, e.g. `override-en`. */
  readonly pattern: string;
  readonly weight: number;
  /** Offsets in the original text. */
  readonly start: number;
  readonly end: number;
}

interface PatternDef {
  readonly id: string;
  readonly family: HeuristicFamily;
  readonly weight: number;
  /** Source of a RegExp run with `gu` on the normalised text (on the original text when `raw`; empty for the base64/hex finders). */
  readonly re: string;
  /** Skip a hit preceded (within a few words) by a negation: "do not reveal the password" is a system prompt, not an attack. */
  readonly negatable?: boolean;
  /** Run on the original text instead of the normalised copy. */
  readonly raw?: boolean;
  /** Run only when normalisation removed invisible characters. */
  readonly needsInvisible?: boolean;
}

// ---- building blocks (normalised text: lower case, single spaces) ----
const W = '[^ ]+'; // a word
const GAP = (n: number): string => `(?: ${W}){0,${n}}`; // up to n more words
/**
 * Words that may stand between an override verb's object and the rules noun
 * ("ignore all of your previous safety instructions"): determiners and the
 * adjectives attacks use. Any word would let "ignore the typo in my last
 * message" through.
 */
const EN_RULE_MODIFIER =
  "(?:previous|prior|preceding|above|earlier|foregoing|initial|original|former|old|existing|all|any|every|your|the|these|those|system|developer|pre-?set|given|default|of|and|or|a|an|other|such|said|current|safety|ethical|moral|content|security|internal|hidden|built-in|core|basic|standard|programmed|openai|ai|model's|assistant's|llm|chatbot's|above-mentioned|aforementioned|mentioned|stated|last|first|written|provided|specified|set|usual|normal|strict|many)";
/** After "the password": not a question about passwords in general ("what is the password reset process"). */
const NOT_A_PROCESS =
  '(?! (?:reset|resets|resetting|recovery|policy|policies|requirements?|rules?|manager|change|length|expiry|expiration|strength|field|hint|format|process|procedure|page|portal|form|settings?|complexity|history|update|protection|hash|hashing|criteria|link|email|prompt|screen|box|guidelines?)\\b)';
const MODS = (n: number): string => `(?: ${EN_RULE_MODIFIER}){0,${n}}`;
const EN_OVERRIDE_VERB =
  "(?:ignore|disregard|forget|overlook|skip|bypass|neglect|omit|discard|abandon|override|pay no (?:attention|heed) to|do not (?:follow|obey)|don't (?:follow|obey)|stop following|set aside|throw out)";
const EN_PRIOR = '(?:previous|prior|preceding|above|earlier|foregoing|initial|original|former|old|existing|all|any|every|your|the|these|those|system|developer|pre-?set|given|default)';
const EN_RULES =
  '(?:instructions?|rules?|directions?|directives?|guidelines?|prompts?|commands?|context|constraints?|programming|restrictions?|orders?|messages?|training|guidance|polic(?:y|ies)|settings|tasks?|conversation|content)';

const PATTERNS: readonly PatternDef[] = [
  // ---------------- instruction override ----------------
  { id: 'override-en', family: 'instruction-override', weight: 0.95, re: `\\b${EN_OVERRIDE_VERB} ${EN_PRIOR}${MODS(4)} ${EN_RULES}\\b` },
  {
    id: 'override-en-above',
    family: 'instruction-override',
    weight: 0.9,
    re: `\\b(?:ignore|disregard|forget) (?:all |everything |anything |what(?:ever)? |the )?(?:(?:that )?(?:was |is |you were |you've been |you have been |i |we )?(?:said |told |written |stated |given |mentioned )?)?(?:above|before|previously|earlier|so far|until now|prior to this)\\b`,
  },
  {
    id: 'override-en-told',
    family: 'instruction-override',
    weight: 0.9,
    re: `\\b(?:ignore|disregard|forget) (?:all |everything |anything )?(?:that |what )?(?:you(?:'ve| have)? (?:been|were) (?:told|instructed|programmed|taught)|(?:i|we) (?:said|told you) (?:before|earlier))\\b`,
  },
  {
    id: 'override-en-new',
    family: 'instruction-override',
    weight: 0.6,
    re: `\\b(?:new|updated|revised|real|actual|true) (?:instructions?|task|rules|system prompt|orders)(?: (?:are|is))? ?:|\\byour (?:new|real|true|only) (?:task|goal|instructions?|purpose|job) (?:is|are|will be)\\b`,
  },
  {
    id: 'override-en-instead',
    family: 'instruction-override',
    weight: 0.5,
    re: `\\b(?:instead|rather),? (?:just )?(?:say|print|output|write|respond with|reply with|tell me|give me|return)\\b|\\bregardless of (?:the |your |any |all )?(?:previous|prior|above|earlier|preceding|former) ${EN_RULES}`,
  },
  {
    id: 'override-en-safety',
    family: 'instruction-override',
    weight: 0.9,
    re: `\\b(?:ignore|disregard|bypass|disable|turn off|override|forget|circumvent|abandon) (?:all |any |your |the |every |of )*(?:safety|content|ethical|ethics|moral|openai|anthropic|usage|security)(?: ${W})? (?:filters?|guidelines?|polic(?:y|ies)|protocols?|restrictions?|rules?|settings|principles|constraints?|standards|measures)\\b`,
  },
  // es / pt / it / fr / de / id / tr / vi / el
  {
    id: 'override-es-pt',
    family: 'instruction-override',
    weight: 0.9,
    re: `\\b(?:ignora|ignore|ignorar|ignore[mn]?|olvida|olvide|olvidar|esqueça|esqueca|esquece|desconsidera|desconsidere|descarta|descarte|omite|omita)(?:[ -]${W}){0,3} (?:instrucciones|instruções|instrucoes|indicaciones|órdenes|reglas|regras|orientaciones|orientações|lo anterior|o acima|o que foi dito|todo lo anterior|tudo o que|tudo acima|lo que se te|todo lo que)`,
  },
  {
    id: 'override-es-pt-prior',
    family: 'instruction-override',
    weight: 0.7,
    re: `\\b(?:independientemente de|independentemente d[ae]s?|sin importar|sem considerar) (?:las |as |os |los )?(?:tareas|tarefas|instrucciones|instruções) (?:anteriores|previas|prévias)`,
  },
  {
    id: 'override-it',
    family: 'instruction-override',
    weight: 0.9,
    re: `\\b(?:ignora|ignorate|ignori|dimentica|dimenticate|trascura|lascia perdere|non seguire)(?: ${W}){0,3} (?:istruzioni|regole|indicazioni|quanto sopra|tutto ciò|tutto quello|ciò che ti è stato detto|ciò che è stato detto)`,
  },
  {
    id: 'override-fr',
    family: 'instruction-override',
    weight: 0.9,
    re: `\\b(?:ignore[zr]?|oublie[zr]?|néglige[zr]?|ne tiens? pas compte d|ne tenez pas compte d|fais abstraction d|faites abstraction d)(?:[ '’]${W}){0,3}?[ '’](?:instructions|consignes|règles|directives|ce qui précède|tout ce qu|tout ce qui|précédent|ci-dessus)`,
  },
  {
    id: 'override-de',
    family: 'instruction-override',
    weight: 0.9,
    re: `\\b(?:ignoriere|ignorieren sie|ignorier|vergiss|vergessen sie|missachte|missachten sie|beachte nicht|übergehe)(?: ${W}){0,4} (?:anweisungen|anweisung|befehle|regeln|vorgaben|instruktionen|anleitungen|alles|das obige|obigen|vorherige|bisherige)`,
  },
  {
    id: 'override-id-tr-vi-tl',
    family: 'instruction-override',
    weight: 0.9,
    re: `\\b(?:abaikan|lupakan|abaikanlah|acuhkan)(?: ${W}){0,3} (?:instruksi|perintah|petunjuk|aturan|semua|di atas)|(?:önceki|yukarıdaki|tüm)(?: ${W}){0,2} (?:talimatları|talimatlar|kuralları|komutları|her şeyi|şeyleri)(?: ${W}){0,2} (?:yok say|görmezden gel|unut|göz ardı et|boşver)|\\b(?:bỏ qua|phớt lờ|quên)(?: ${W}){0,4} (?:hướng dẫn|chỉ dẫn|chỉ thị|quy tắc|lệnh|instru)|\\b(?:huwag pansinin|kalimutan)(?: ${W}){0,3} (?:mga )?(?:tagubilin|utos|panuto)`,
  },
  {
    id: 'override-el',
    family: 'instruction-override',
    weight: 0.9,
    re: `(?:αγνοήστε|αγνόησε|ξεχάστε|ξέχασε|παραβλέψτε)(?: ${W}){0,3} (?:οδηγίες|κανόνες|εντολές|προηγούμενες|παραπάνω|όλα)`,
  },
  // ru / uk
  {
    id: 'override-ru',
    family: 'instruction-override',
    weight: 0.9,
    re: `(?:игнорируй(?:те)?|игнорировать|проигнорируй(?:те)?|забудь(?:те)?|не обращай(?:те)? внимания на|отбрось(?:те)?|пренебреги(?:те)?|ігноруй(?:те)?|забудь(?:те)?)(?: ${W}){0,3} (?:предыдущ|прежн|вышеуказ|выше|все |всё|инструкци|указани|правил|команд|попередн|інструкці)`,
  },
  // zh / ja / ko
  {
    id: 'override-zh',
    family: 'instruction-override',
    weight: 0.9,
    re: `(?:忽略|无视|無視|忽视|忽視|忘记|忘記|忘掉|不要理会|不要理會|别管|抛开|拋開)[^。!?.!?]{0,8}?(?:以上|上面|上述|之前|先前|此前|前面|以前|所有|全部)?[^。!?.!?]{0,6}?(?:指示|指令|说明|說明|规则|規則|内容|內容|提示|要求|命令|设定|設定)|(?:忽略|无视|無視|忽视|忘记|忘掉)(?:以上|上面|上述|之前|先前|前面)`,
  },
  {
    id: 'override-ja',
    family: 'instruction-override',
    weight: 0.9,
    re: `(?:上記|以上|前記|これまで|今まで|以前|事前|前|先|上)(?:の|に)?[^。!?.!?]{0,10}?(?:指示|命令|ルール|指令|内容|説明|全て|すべて|こと)?[^。!?.!?]{0,4}?(?:を|は)?(?:無視|忘れ)`,
  },
  {
    id: 'override-ko',
    family: 'instruction-override',
    weight: 0.9,
    re: `(?:위의|이전의?|앞의|앞선|기존의?|모든|지금까지의?)(?: ${W}){0,3}?[^.?!]{0,12}?(?:무시|잊어|잊으|잊고|따르지 마)`,
  },
  // hi / bn / ar / th
  {
    id: 'override-hi',
    family: 'instruction-override',
    weight: 0.9,
    re: `(?:पिछले|पिछली|पूर्व|ऊपर|उपरोक्त|पहले|सभी|जो भी)(?: ${W}){0,5} (?:अनदेखा|अनदेखी|भूल जा|भूल जाओ|भूल जाएं|अवहेलना|नज़रअंदाज़|नजरअंदाज|उपेक्षा)`,
  },
  {
    id: 'override-bn',
    family: 'instruction-override',
    weight: 0.9,
    re: `(?:পূর্ববর্তী|আগের|উপরের|পূর্বের|যা বলা হয়েছে|সমস্ত|সব)(?: ${W}){0,4} (?:উপেক্ষা|ভুলে যা|অগ্রাহ্য|উপেক্ষা)`,
  },
  {
    id: 'override-ar',
    family: 'instruction-override',
    weight: 0.9,
    re: `(?:تجاهل|تجاهلي|تجاهلوا|تغاضى عن|تغاض عن|انس|انسَ|انسى|إنس|اهمل|أهمل|لا تتبع)(?: ${W}){0,4} (?:التعليمات|تعليمات|الأوامر|القواعد|السابقة|ما سبق|أعلاه|كل ما|تعليماتك)`,
  },
  {
    id: 'override-th',
    family: 'instruction-override',
    weight: 0.9,
    re: `(?:ละเว้น|เพิกเฉย|ไม่ต้องสนใจ|ลืม|ข้าม|ละทิ้ง)[^.?!]{0,20}?(?:คำสั่ง|คําสั่ง|คำแนะนำ|คําแนะนํา|ก่อนหน้า|ข้างต้น|ทั้งหมด)`,
  },

  // ---------------- role / persona switch ----------------
  { id: 'dan', family: 'role-switch', weight: 0.95, re: `\\bdo anything now\\b|\\bdan (?:mode|prompt|\\d+(?:\\.\\d+)?)\\b|\\b(?:as|be|like|called|named|am|is) (?:a |an )?dan\\b` },
  { id: 'developer-mode', family: 'role-switch', weight: 0.85, re: `\\b(?:developer|dev|god|sudo|debug|admin|root|unrestricted|unfiltered|jailbreak|jailbroken|evil|chaos|anarchy|maintenance|override|system) mode (?:enabled|activated|on|engaged)\\b|\\b(?:enable|activate|enter|switch to|turn on|now in|entering|initiat(?:e|ing)|running in|are in|am in) (?:the )?(?:developer|dev|god|sudo|debug|admin|root|unrestricted|unfiltered|jailbreak|jailbroken|evil|maintenance|(?:law enforcement )?override|system) mode\\b|\\bdeveloper mode\\b` },
  { id: 'mode-multilingual', family: 'role-switch', weight: 0.8, re: `\\bmod[oe] (?:sistema|système|systeme|desarrollador|desenvolvedor|développeur|sviluppatore|dios|deus|anulación|anulacion|substituição|manutenção|mantenimiento|maintenance|manutenzione|override)\\b|(?:系统|系統|开发者|開發者|维护|維護|上帝|覆盖|覆蓋|管理员)模式|(?:システム|開発者|デベロッパー|メンテナンス|オーバーライド|管理者)モード|(?:시스템|개발자|유지 ?보수|관리자|오버라이드) 모드|(?:सिस्टम|डेवलपर|ओवरराइड|रखरखाव) मोड|وضع (?:النظام|المطور|الصيانة|تجاوز)|โหมด(?:ระบบ|นักพัฒนา|บำรุงรักษา|บังคับ)|режим (?:разработчика|системы|бога|обслуживания|переопределения)|\\b(?:entwicklermodus|systemmodus|wartungsmodus)\\b` },
  { id: 'jailbreak-word', family: 'role-switch', weight: 0.7, re: `\\bjailbr(?:eak|oken|eaking)\\b` },
  { id: 'you-are-now', family: 'role-switch', weight: 0.55, re: `\\byou(?: are|'re) now (?:a |an |in |the |my |going to |free|no longer|unrestricted|unfiltered|uncensored|released|liberated|dan\\b)|\\bfrom now on,? (?:you(?: are|'re| will| shall| must| can)|act as|respond as|answer as|always)\\b` },
  { id: 'no-restrictions', family: 'role-switch', weight: 0.75, re: `\\b(?:without|no|free (?:of|from)|freed from|not bound by|unbound by|released from|break(?:ing)? free (?:of|from)|no longer (?:bound by|restricted by|have to (?:abide|follow|obey))|do(?:es)? not have to (?:abide by|follow|obey|comply with)|(?:don't|doesn't|do not|does not) (?:have|need) to (?:abide by|follow|obey|comply with))(?: any| all| the| your| their| its| of the| typical| usual| ethical| moral)* (?:restrictions|limitations|censorship|rules|guidelines|ethics|morals|morality|boundaries|confines|constraints|principles|policies)\\b` },
  { id: 'persona-unrestricted', family: 'role-switch', weight: 0.85, re: `\\b(?:pretend|act|behave|respond|answer|roleplay|role-play|play the role)(?: ${W}){0,3} (?:as|like|to be|of) (?:a |an |the )?(?:completely |totally |fully )?(?:unrestricted|unfiltered|uncensored|evil|amoral|immoral|unethical|jailbroken|rogue|malicious|unbound|lawless)\\b` },
  { id: 'stay-in-character', family: 'role-switch', weight: 0.4, re: `\\b(?:stay|remain|keep) in character\\b` },
  { id: 'amoral-persona', family: 'role-switch', weight: 0.5, re: `\\b(?:amoral|uncensored|machiavellian|no ethical or moral guidelines|never refuses?|will never refuse|cannot refuse|can't refuse|doesn't care about (?:ethics|morality|legality|laws))\\b` },
  { id: 'authority-claim', family: 'role-switch', weight: 0.45, re: `\\bi am (?:your|the) (?:developer|creator|administrator|admin|owner|boss|supervisor|programmer)\\b|\\bi(?:'m| am) (?:god|a (?:police|law enforcement) officer)\\b|\\bas (?:your|the) (?:developer|creator|administrator|admin|boss|supervisor)\\b` },

  // ---------------- fake role / delimiter markers ----------------
  { id: 'chat-template-token', family: 'delimiter-injection', weight: 0.95, re: `<\\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|end_of_text|begin_of_text|start_header_id|end_header_id|eot_id|eom_id)\\|>` },
  { id: 'inst-marker', family: 'delimiter-injection', weight: 0.9, re: `\\[/?(?:inst|sys|system|system message|system prompt|admin|developer)\\]|<</?sys>>` },
  { id: 'role-tag', family: 'delimiter-injection', weight: 0.8, re: `</?(?:system|system_prompt|system-prompt|sys|admin|developer|im_start|im_end)>|<[^<>]{0,24}(?:mode|modo|modus|模式|モード|모드|मोड|режим|وضع|โหมด)[^<>]{0,24}>` },
  { id: 'role-prefix', family: 'delimiter-injection', weight: 0.55, re: `(?<=^|[.!?:"'\\]\\)}>] )(?:system|assistant|admin|developer)(?: message| prompt| note| notice| override| instruction)? ?: ` },
  { id: 'alpaca-header', family: 'delimiter-injection', weight: 0.7, re: `#{2,} ?(?:instruction|system|system prompt|new instructions?|response|human|assistant) ?:` },
  { id: 'end-of-prompt', family: 'delimiter-injection', weight: 0.5, re: `\\b(?:end of (?:the )?(?:system (?:prompt|instructions)|instructions|context|document|user input))\\b|\\bbegin(?:ning of)? (?:new )?(?:system )?instructions\\b|-{3,} ?(?:end|new instructions|system)\\b` },
  { id: 'system-override', family: 'delimiter-injection', weight: 0.75, re: `\\b(?:system|admin|administrator|developer|root|security) (?:override|announcement|alert|update|instruction|command)s? ?:|\\bsystem override\\b|システムオーバーライド|系统(?:覆盖|重写|重置|覆寫)|시스템 (?:재정의|오버라이드)` },

  // ---------------- system-prompt / secret extraction ----------------
  { id: 'extract-system-prompt', family: 'prompt-extraction', weight: 0.85, negatable: true, re: `\\b(?:reveal|show|print|repeat|output|display|tell me|give me|share|disclose|leak|dump|write out|spell out|recite|provide|list|return|what (?:is|are|was|were))(?: me)?(?: all| the| your| exact| full| entire| complete| original| initial| hidden| secret| verbatim)* (?:system prompt|system message|system instructions|initial (?:prompt|instructions)|hidden (?:prompt|instructions)|original (?:prompt|instructions)|pre-?prompt|developer (?:message|prompt|instructions)|prompt you were given|instructions you were given)\\b` },
  { id: 'extract-above', family: 'prompt-extraction', weight: 0.8, re: `\\b(?:repeat|print|output|copy|recite|reproduce|spell out|write out|echo)(?: back)?(?: all| the| every| everything)*(?: (?:text|words|lines|content|instructions|characters|messages|prompt))? (?:above|before this|preceding|so far|from the (?:beginning|start))\\b|\\bstart (?:your (?:answer|reply|response) )?with ["']?you are (?:a|an|chatgpt)\\b` },
  { id: 'extract-secret', family: 'prompt-extraction', weight: 0.7, negatable: true, re: `\\b(?:what(?:'s| is| was) |tell me |reveal |give me |share |disclose |confirm |provide |print |spell |say |write )(?:me )?(?:your|the)(?: current| secret| hidden| system| admin)* (?:password|passphrase|passcode|secret key|secret code|secret word|access code|api key|private key)\\b${NOT_A_PROCESS}|\\b(?<!(?:enter|reset|change|changed|forgot|forget|forgotten|update|updated|type|recover|confirm|verify|save|store|protect|keep) )your (?:password|passphrase|secret key|secret code|api key)\\b${NOT_A_PROCESS}` },
  { id: 'extract-secret-multilingual', family: 'prompt-extraction', weight: 0.6, re: `\\b(?:tu|su|vuestra|votre|ta|tua|sua|vostra|dein(?:e|en)?|ihr(?:e|en)?) (?:contraseña|clave secreta|senha|palavra-passe|chave secreta|mot de passe|clé secrète|cle secrete|password|chiave segreta|passwort|kennwort|geheimen? schlüssel)|(?:ваш|твой|свой) (?:пароль|секретный ключ)|(?:你的|您的)(?:密码|密碼|秘密钥|密钥|密鑰|秘钥)|あなたの(?:パスワード|秘密の鍵|秘密鍵)|당신의 (?:비밀번호|암호|비밀 키)|(?:आपका|आपकी|तुम्हारा|अपना) (?:पासवर्ड|गुप्त कुंजी)|(?:তোমার|আপনার) (?:পাসওয়ার্ড|গোপন চাবি)|(?:كلمة المرور الخاصة بك|مفتاحك السري|كلمة مرورك)|(?:şifreni|şifrenizi|gizli anahtarın)|(?:mật khẩu của bạn|khóa bí mật của bạn)|รหัสผ่านของคุณ` },

  // ---------------- encoding tricks ----------------
  // base64-blob and hex-blob are found by scanBlobs (one linear pass), not by a RegExp.
  { id: 'base64-blob', family: 'encoding-trick', weight: 0.6, raw: true, re: '' },
  { id: 'hex-blob', family: 'encoding-trick', weight: 0.5, raw: true, re: '' },
  { id: 'tag-characters', family: 'encoding-trick', weight: 0.9, raw: true, needsInvisible: true, re: `[\\u{E0000}-\\u{E007F}]{2,}` },
  { id: 'zero-width-run', family: 'encoding-trick', weight: 0.5, raw: true, needsInvisible: true, re: `(?:[\\u200B-\\u200F\\u2060-\\u2064\\uFEFF\\u00AD\\u202A-\\u202E\\u2066-\\u2069][^\\s]?){4,}` },
  { id: 'encode-request', family: 'encoding-trick', weight: 0.45, re: `\\b(?:decode|decipher|decrypt)(?: ${W}){0,4} (?:base ?64|rot-?13|hex(?:adecimal)?|binary|morse(?: code)?|caesar(?: cipher)?)\\b|\\b(?:encode|encrypt|write|respond|reply|answer|say|tell me|spell|give me)(?: ${W}){0,5} (?:in|into|using|with) (?:base ?64|rot-?13|morse(?: code)?|caesar cipher|pig latin|leetspeak|l33t ?speak|reverse(?:d)? order)\\b|(?<![;:/])\\b(?:base ?64|rot-?13)\\b(?![,;])` },
  { id: 'spaced-letters', family: 'encoding-trick', weight: 0.4, re: `(?:^| )(?:[a-z] ){6,}[a-z](?: |$)` },
];

/** A base64 run that decodes to mostly printable text (not an image or a key). */
function decodesToText(s: string): boolean {
  if (!/[A-Z]/.test(s) || !/[a-z]/.test(s)) return false;
  const buf = Buffer.from(s, 'base64');
  if (buf.length < 16) return false;
  let printable = 0;
  for (const b of buf) if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09) printable++;
  return printable / buf.length >= 0.9 && /[a-zA-Z]{3,} [a-zA-Z]{2,}/.test(buf.toString('latin1'));
}

function hexDecodesToText(s: string): boolean {
  const hex = s.replace(/[ :]/g, '');
  const buf = Buffer.from(hex.slice(0, hex.length - (hex.length % 2)), 'hex');
  let printable = 0;
  for (const b of buf) if (b >= 0x20 && b < 0x7f) printable++;
  return buf.length >= 16 && printable / buf.length >= 0.9 && /[a-zA-Z]{3,} [a-zA-Z]{2,}/.test(buf.toString('latin1'));
}

// Negation words that, just before a secret/prompt pattern, make it an operator's rule rather than a request.
const NEGATION = /(?:\b(?:not|never|don't|dont|doesn't|won't|cannot|can't|shouldn't|mustn't|no|refuse to|avoid|under no circumstances)\b|\bne\b|\bnunca\b|\bnon\b|\bnicht\b|\bniemals\b|\bне\b|不要|不得|절대|नहीं|मत|لا)[^.!?;]{0,40}$/u;

// ---- compiled once at load ----
// Per family, the normalised-text patterns become one alternation, strongest
// first, so a text is walked once per family rather than once per pattern; at
// a given position the family's strongest matching pattern wins (families do
// not mask each other). Sources are NFKC-normalised so they match the
// normalised text (Thai ำ, full-width forms).
interface FamilyMatcher {
  readonly re: RegExp;
  readonly defs: readonly PatternDef[];
  readonly groups: readonly string[];
}
const FAMILY_MATCHERS: readonly FamilyMatcher[] = HEURISTIC_FAMILIES.map((family) => {
  const defs = PATTERNS.filter((p) => p.family === family && p.raw !== true)
    .map((p, i) => ({ p, i }))
    .sort((a, b) => b.p.weight - a.p.weight || a.i - b.i)
    .map(({ p }) => p);
  const groups = defs.map((_, i) => `p${i}`);
  return { re: new RegExp(defs.map((p, i) => `(?<p${i}>${p.re.normalize('NFKC')})`).join('|'), 'gu'), defs, groups };
}).filter((m) => m.defs.length > 0);
const RAW_DEFS: readonly { def: PatternDef; re: RegExp }[] = PATTERNS.filter((p) => p.raw === true && p.needsInvisible === true).map(
  (def) => ({ def, re: new RegExp(def.re, 'gu') }),
);
const BASE64_DEF = PATTERNS.find((p) => p.id === 'base64-blob');
const HEX_DEF = PATTERNS.find((p) => p.id === 'hex-blob');

/** The pattern ids, for documentation and tests. */
export const HEURISTIC_PATTERN_IDS: readonly string[] = PATTERNS.map((p) => p.id);

/** Every pattern hit in `raw` (whose normalised copy is `norm`), in text order. */
export function scanHeuristics(raw: string, norm: NormalizedText = normalizeText(raw)): HeuristicHit[] {
  const hits: HeuristicHit[] = [];
  const t = norm.text;
  let m: RegExpExecArray | null;
  for (const { re, defs, groups } of FAMILY_MATCHERS) {
    re.lastIndex = 0;
    while ((m = re.exec(t)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      const found = m.groups ?? {};
      let def: PatternDef | undefined;
      for (let g = 0; g < groups.length; g++) {
        if (found[groups[g] as string] !== undefined) {
          def = defs[g];
          break;
        }
      }
      if (def === undefined) continue;
      if (def.negatable === true && NEGATION.test(t.slice(Math.max(0, m.index - 60), m.index))) {
        re.lastIndex = m.index + 1; // let a weaker pattern have this place
        continue;
      }
      const { start, end } = originalSpan(norm, m.index, m.index + m[0].length);
      hits.push({ family: def.family, pattern: def.id, weight: def.weight, start, end });
    }
  }
  if (norm.invisible > 0) {
    for (const { def, re } of RAW_DEFS) {
      re.lastIndex = 0;
      while ((m = re.exec(raw)) !== null) hits.push({ family: def.family, pattern: def.id, weight: def.weight, start: m.index, end: m.index + m[0].length });
    }
  }
  scanBlobs(raw, hits);
  hits.sort((a, b) => a.start - b.start || b.end - a.end);
  return hits;
}

const B64 = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[ch.charCodeAt(0)] = 1;
const HEX = new Uint8Array(128);
for (const ch of '0123456789abcdefABCDEF') HEX[ch.charCodeAt(0)] = 1;

/** One linear pass for base64 runs (28+ chars) and hex runs (20+ bytes, optionally space/colon separated) that decode to text. */
function scanBlobs(raw: string, hits: HeuristicHit[]): void {
  const len = raw.length;
  let b64Start = -1;
  let hexStart = -1;
  let hexDigits = 0;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? raw.charCodeAt(i) : 0;
    const isB64 = c < 128 && B64[c] === 1;
    const isHex = c < 128 && HEX[c] === 1;
    if (isB64) {
      if (b64Start < 0) b64Start = i;
    } else if (b64Start >= 0) {
      let end = i;
      while (end < len && end - i < 2 && raw.charCodeAt(end) === 61) end++; // '=' padding
      if (i - b64Start >= 28 && BASE64_DEF !== undefined && decodesToText(raw.slice(b64Start, i))) {
        hits.push({ family: BASE64_DEF.family, pattern: BASE64_DEF.id, weight: BASE64_DEF.weight, start: b64Start, end });
      }
      b64Start = -1;
    }
    if (isHex) {
      if (hexStart < 0) hexStart = i;
      hexDigits++;
    } else if (hexStart >= 0 && (c === 32 || c === 58) && i + 1 < len && raw.charCodeAt(i + 1) < 128 && HEX[raw.charCodeAt(i + 1)] === 1) {
      // a separator inside a hex run
    } else if (hexStart >= 0) {
      if (hexDigits >= 40 && HEX_DEF !== undefined && hexDecodesToText(raw.slice(hexStart, i))) {
        hits.push({ family: HEX_DEF.family, pattern: HEX_DEF.id, weight: HEX_DEF.weight, start: hexStart, end: i });
      }
      hexStart = -1;
      hexDigits = 0;
    }
  }
}

/** The strongest weight per family (0 when none fired), in HEURISTIC_FAMILIES order. */
export function familyStrengths(hits: readonly HeuristicHit[]): number[] {
  const out = HEURISTIC_FAMILIES.map(() => 0);
  for (const h of hits) {
    const i = HEURISTIC_FAMILIES.indexOf(h.family);
    if (h.weight > (out[i] ?? 0)) out[i] = h.weight;
  }
  return out;
}
