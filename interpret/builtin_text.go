package interpret

// The words of the builtin reader. A reading is the poem's level (its tone), the lines chosen
// for the question read by their place in the quatrain (起承轉合), the temple's traditional
// readings, and counsel keyed by tone and topic. Tables are indexed [tone] or [position][tone].

// tone is the broad mood of a fortune level.
type tone int

const (
	good tone = iota // 上上, 上吉, 上
	even             // 中吉, 中, 中平, and levels we do not know
	poor             // 下, 下下
)

func toneOf(level string) tone {
	switch level {
	case "上上", "上吉", "上":
		return good
	case "下", "下下":
		return poor
	}
	return even
}

// words holds one language's phrases.
type words struct {
	levelPhrase map[string]string
	topicNoun   map[string]string // "career" → "功名事業"
	topicName   map[string]string // aspect names; zh uses fortune.Topics labels
	toneSummary [3]string
	linePhrase  [4][3]string // by the line's place: 起 opening, 承 development, 轉 turn, 合 close
	closing     [3]string
	topicTone   [3]string // takes the topic noun
	contextTone [3]string
	overallTone [3]string
	storyLesson [3]string
	decision    [3]string
	timing      [3]string
	people      [3]string
	topicAdvice map[string][3]string
	toneAdvice  [3]string
	cautions    [3][3]string
	profession  map[string]string // topics where a professional must have the last word
}

var zhWords = words{
	levelPhrase: map[string]string{
		"上上": "是最上等的好籤",
		"上吉": "大吉大利",
		"上":  "運勢向好",
		"中吉": "吉中帶穩",
		"中":  "不好不壞、有得有失",
		"中平": "平穩之中見起伏",
		"下":  "眼前多有阻滯",
		"下下": "正值低谷之時",
	},
	topicNoun: map[string]string{
		"overall":  "整體運途",
		"family":   "家宅",
		"marriage": "婚姻感情",
		"wealth":   "求財",
		"career":   "功名事業",
		"health":   "身體健康",
		"travel":   "出行",
		"lawsuit":  "訴訟糾紛",
		"lost":     "尋找失物",
	},
	toneSummary: [3]string{
		"此籤氣象開朗，所求之事有天時相助，只要把握機會、腳踏實地，多能如願。",
		"此籤吉凶參半，事情可成，但不會一蹴而就，須耐心經營、步步為營。",
		"此籤提醒你眼下時機未到、阻力較多，宜守不宜攻，先穩住自己，等待轉機。",
	},
	linePhrase: [4][3]string{
		{
			"是全詩的起句，說的正是你眼下的處境：根基已在，只待發揮。",
			"是全詩的起句，描繪你眼下的處境：事情已經起頭，局勢卻還不明朗。",
			"是全詩的起句，點出你眼下的處境：前路一時被遮蔽，難以看清。",
		},
		{
			"承接起句，說明事情會順勢發展，你的努力會得到回應。",
			"承接起句，說明事情會慢慢推進，過程需要耐心。",
			"承接起句，說明困難還會延續一段時間，不宜急躁。",
		},
		{
			"是全詩的轉折，暗示轉機已近，宜主動把握。",
			"是全詩的轉折，提醒你在關鍵處做出取捨。",
			"是全詩的轉折，告訴你唯有調整做法，局面才會改變。",
		},
		{
			"是全詩的結語，預示終有圓滿的結果。",
			"是全詩的結語，預示結果大致平穩，得失相當。",
			"是全詩的結語，勸你放下執念、守住本分，靜待來日。",
		},
	},
	closing: [3]string{
		"好籤更須惜福，持續努力，福氣才留得住。",
		"凡事盡其在我，結果自然水到渠成。",
		"籤不好不代表命不好；調整心態、沉著應對，低谷終會過去。",
	},
	topicTone: [3]string{
		"對你而言，這表示%s方面運勢向好，可以放心去做。",
		"對你而言，這表示%s方面宜穩步前進，不求快但求穩。",
		"對你而言，這表示%s方面宜守成為先，先保住已有的，再圖進取。",
	},
	contextTone: [3]string{
		"眼前的條件正可以善加利用。",
		"其中有可為之處，也有需要耐心等待的部分。",
		"不妨先從其中最能掌握的一件事做起。",
	},
	overallTone: [3]string{
		"放到你的處境來看，大方向是順的，可以安心前行。",
		"放到你的處境來看，大方向可行，但細節要多留意。",
		"放到你的處境來看，宜放慢腳步，先求穩，再求進。",
	},
	storyLesson: [3]string{
		"古人得時而興，提醒你機會來時要勇於承擔。",
		"古人也是在等待與堅持中成事，提醒你沉住氣。",
		"古人也曾困頓，終因守正而得解，提醒你在逆境中不失其志。",
	},
	decision: [3]string{
		"面對抉擇，此籤傾向支持你往前一步，但要先想清楚需要承擔的代價。",
		"面對抉擇，此籤沒有絕對的答案。把利弊寫下來，選那條即使結果不完美，你也不會後悔的路。",
		"面對抉擇，此籤建議暫緩重大決定，多聽可信之人的意見，不要在情緒起伏時拍板。",
	},
	timing: [3]string{
		"問到時機，此籤主時運已至，近期便可著手，不必一再拖延。",
		"問到時機，此籤主「緩中求成」：先把準備做足，待條件成熟再行動。",
		"問到時機，此籤示意時候未到；與其強求，不如先充實自己，等待更合適的時機。",
	},
	people: [3]string{
		"事情牽涉他人，此籤主有貴人相助，坦誠溝通便能得到支持。",
		"事情牽涉他人，彼此立場不同，宜多體諒、多溝通，不要只憑猜測行事。",
		"事情牽涉他人，眼下容易有誤會或阻撓，宜保持分寸，少爭口舌。",
	},
	topicAdvice: map[string][3]string{
		"overall": {
			"趁運勢順時訂下一個明確的目標，一步步去實現。",
			"把手上的事情排好先後，一次專心做好一件。",
			"先照顧好作息與心情，把力氣留給真正重要的事。",
		},
		"family": {
			"多陪伴家人，趁家運和順時一起商量家中大事。",
			"家中事宜多溝通、少指責，各退一步便能和氣。",
			"家中若有紛擾，先穩住情緒，不在氣頭上做決定，必要時請長輩或可信之人居中調解。",
		},
		"marriage": {
			"真誠表達心意，良緣也需要你主動回應。",
			"感情宜慢慢培養，多了解對方真正的想法，不急著要答案。",
			"感情上先別強求，給彼此空間，也給自己時間看清楚。",
		},
		"wealth": {
			"財運有利，可把握正當的機會，但仍要量力而為。",
			"求財宜穩，以正業為本，避免把全部押在一次機會上。",
			"暫緩投資與大筆支出，先守住本錢，留足生活所需。",
		},
		"career": {
			"主動爭取表現的機會，把平日累積的準備化為行動。",
			"先把本分做扎實，持續累積實力，機會來時才接得住。",
			"工作上暫時低調行事，多學少爭，等待更好的時機再求變動。",
		},
		"health": {
			"保持良好作息，身體恢復有望，仍請持續遵照醫師的建議。",
			"留意身體發出的小訊號，及早檢查，作息規律。",
			"身體不適務必盡早就醫，不要拖延，也別只靠求籤安心。",
		},
		"travel": {
			"出行順利，把行程與證件準備妥當後便可安心啟程。",
			"出行前多做準備，行程裡預留應付變動的時間。",
			"非必要的遠行可以延後；若必須出門，務必注意安全，多與家人保持聯絡。",
		},
		"lawsuit": {
			"理在你方，可依正當程序爭取，但仍宜留下和解的餘地。",
			"爭訟耗神，能和則和，必要時尋求專業的法律意見。",
			"此時不宜興訟，退一步以和為貴，並盡早諮詢專業人士。",
		},
		"lost": {
			"失物有望尋回，從最近去過的地方仔細找起。",
			"失物可能要費些工夫，請身邊的人幫忙回想，或向相關單位詢問。",
			"失物恐難尋回，盡力之後便放下，把心力放在往後的安排。",
		},
	},
	toneAdvice: [3]string{
		"順境更要踏實，保持謙和，也與身邊的人分享好消息。",
		"每天做一點，點滴累積起來，就是轉機。",
		"把心放寬，先做好眼前能做的一件小事，從這裡重新站穩。",
	},
	cautions: [3][3]string{
		{
			"切忌得意忘形，順境中更要謹慎。",
			"別因為一時順利就冒進，步伐要穩。",
			"留意身邊的人的感受，福氣要與人共享。",
		},
		{
			"避免三心二意，反覆更改方向只會消耗力氣。",
			"不要輕信捷徑或過於美好的承諾。",
			"別把一時的停滯當成失敗，耐心是這支籤的關鍵。",
		},
		{
			"不宜在情緒低落時做重大決定。",
			"避免與人正面衝突，口舌之爭只會讓事情更難。",
			"小心來路不明的機會與金錢往來。",
		},
	},
	profession: map[string]string{
		"health":  "籤詩僅供參考，身體狀況請以醫師的專業判斷為準。",
		"lawsuit": "籤詩僅供參考，法律問題請以律師等專業意見為準。",
		"wealth":  "籤詩僅供參考，投資理財請自行審慎評估，必要時諮詢專業。",
	},
}

var enWords = words{
	levelPhrase: map[string]string{
		"上上": "the very best of lots (上上)",
		"上吉": "a highly auspicious lot (上吉)",
		"上":  "a good lot (上)",
		"中吉": "a moderately favourable lot (中吉)",
		"中":  "a middling lot, with gains and losses (中)",
		"中平": "an even lot, steady with some ups and downs (中平)",
		"下":  "a difficult lot (下), with obstacles for now",
		"下下": "the hardest of lots (下下), a low season",
	},
	topicNoun: map[string]string{
		"overall":  "your fortune as a whole",
		"family":   "home and family",
		"marriage": "love and marriage",
		"wealth":   "wealth",
		"career":   "career and advancement",
		"health":   "health",
		"travel":   "travel",
		"lawsuit":  "disputes and lawsuits",
		"lost":     "something lost",
	},
	topicName: map[string]string{
		"overall":  "Overall",
		"family":   "Home & family",
		"marriage": "Love & marriage",
		"wealth":   "Wealth",
		"career":   "Career",
		"health":   "Health",
		"travel":   "Travel",
		"lawsuit":  "Disputes",
		"lost":     "Lost things",
	},
	toneSummary: [3]string{
		"The poem's mood is bright: the season is on your side, and with steady, honest effort what you hope for is within reach.",
		"The poem holds both light and shade: things can work out, but not all at once — patience and care will carry you.",
		"The poem gently warns that the time is not yet ripe. There are obstacles ahead, so hold your ground, steady yourself, and wait for the turn.",
	},
	linePhrase: [4][3]string{
		{
			"opens the poem and describes where you stand: the foundation is already there, waiting to be used.",
			"opens the poem and describes where you stand: things have begun, but the picture is not yet clear.",
			"opens the poem and describes where you stand: the way ahead is clouded for now.",
		},
		{
			"carries the opening forward: matters will develop naturally, and your effort will be answered.",
			"carries the opening forward: progress will come slowly and asks for patience.",
			"carries the opening forward: the difficulty will last a while yet, so do not rush.",
		},
		{
			"is the poem's turn: a change for the better is near — be ready to take it.",
			"is the poem's turn: at the crucial moment you will need to choose what matters most.",
			"is the poem's turn: only by changing your approach will the situation change.",
		},
		{
			"closes the poem and promises a good outcome in the end.",
			"closes the poem: the outcome is steady, with gains and losses roughly in balance.",
			"closes the poem, advising you to let go of what you cannot hold, keep to what is right, and wait for better days.",
		},
	},
	closing: [3]string{
		"A good lot is a blessing to be cared for: keep working, and the fortune will stay with you.",
		"Do your part fully, and the rest will follow in its own time.",
		"A hard lot is not a hard fate. Steady your heart, meet things calmly, and this low season will pass.",
	},
	topicTone: [3]string{
		"For you, this points to a favourable turn in %s: you can go ahead with confidence.",
		"For you, it suggests %s will move steadily rather than quickly: keep a clear head and an even pace.",
		"For you, it counsels care in %s: protect what you have before reaching for more.",
	},
	contextTone: [3]string{
		"the conditions you describe are ones you can put to good use.",
		"there is room to act, and there are parts that simply need time.",
		"begin with the one part of it that is most within your control.",
	},
	overallTone: [3]string{
		"Applied to your situation, the general direction is favourable; you can move ahead with an easy mind.",
		"Applied to your situation, the direction is workable, but the details deserve care.",
		"Applied to your situation, it is wiser to slow down: secure your footing before pressing on.",
	},
	storyLesson: [3]string{
		"Like those who rose when their time came, be ready to take on what is offered.",
		"Those in the story also succeeded through waiting and perseverance; keep your composure.",
		"Those in the story also knew hardship and came through by holding to what was right; do not lose heart.",
	},
	decision: [3]string{
		"The lot leans toward taking the step forward — but first be clear about what it will ask of you.",
		"The lot gives no absolute answer. Write down the gains and losses, and choose the path you would not regret even if it turns out imperfectly.",
		"The lot advises postponing major choices. Listen to people you trust, and do not decide in a moment of strong emotion.",
	},
	timing: [3]string{
		"Your moment has arrived: you can begin soon rather than putting it off.",
		"The lot counsels success through patience: prepare thoroughly, and act once the conditions are in place.",
		"The time has not yet come. Rather than forcing it, build yourself up and wait for a better opening.",
	},
	people: [3]string{
		"The lot speaks of helpful people (貴人): honest conversation will win their support.",
		"The others involved see things differently from you; be understanding, talk things through, and do not act on guesses.",
		"Misunderstandings and obstruction come easily now; keep a respectful distance and avoid arguments.",
	},
	topicAdvice: map[string][3]string{
		"overall": {
			"While the tide is with you, set one clear goal and work toward it step by step.",
			"Put what is on your plate in order, and give your full attention to one thing at a time.",
			"Look after your rest and your mood first, and save your strength for what truly matters.",
		},
		"family": {
			"Spend time with your family; while the home is in harmony, talk through the big household decisions together.",
			"At home, talk more and blame less; if everyone gives a little, peace will hold.",
			"If there is friction at home, calm yourself first and decide nothing in anger; ask an elder or someone you trust to help mediate.",
		},
		"marriage": {
			"Say what is in your heart sincerely; a good match needs you to answer it.",
			"Let the relationship grow at its own pace, and learn how the other person truly thinks before asking for answers.",
			"Do not force matters of the heart; give each other room, and give yourself time to see clearly.",
		},
		"wealth": {
			"Money matters favour you: take honest opportunities, but stay within your means.",
			"Seek wealth steadily through your main work, and never stake everything on a single chance.",
			"Put investments and large purchases on hold; protect your savings and keep enough for daily needs.",
		},
		"career": {
			"Step forward for chances to show your ability, and turn your preparation into action.",
			"Do your present work thoroughly and keep building your skills, so you are ready when the opening comes.",
			"Keep a low profile at work for now — learn more, contend less — and wait for a better moment to make a change.",
		},
		"health": {
			"Keep good habits and recovery is in sight — and do keep following your doctor's advice.",
			"Pay attention to small signals from your body, get checked early, and keep a regular routine.",
			"If you feel unwell, see a doctor promptly; do not delay, and do not rely on a fortune poem for reassurance.",
		},
		"travel": {
			"The journey goes smoothly; set out with an easy mind once your plans and papers are in order.",
			"Prepare well before you go, and leave room in your plans for changes.",
			"Postpone travel that is not necessary; if you must go, take extra care and stay in touch with your family.",
		},
		"lawsuit": {
			"Right is on your side: pursue it through proper channels, but leave room for a settlement.",
			"Disputes drain the spirit; settle if you can, and seek professional legal advice where needed.",
			"This is not the time to go to court; step back, value peace, and consult a professional early.",
		},
		"lost": {
			"What was lost may well be found; search carefully where you have been most recently.",
			"Finding it may take some effort; ask others to help you remember, or check with those who may have it.",
			"The lost thing may not come back; do what you reasonably can, then let it go and turn to what comes next.",
		},
	},
	toneAdvice: [3]string{
		"Stay grounded and humble in good fortune, and share the good news with those around you.",
		"Do a little every day; small steps add up to a turning point.",
		"Ease your heart, do one small thing within reach today, and find your footing from there.",
	},
	cautions: [3][3]string{
		{
			"Do not let success go to your head; good times call for more care, not less.",
			"Do not rush ahead just because things are going well; keep a steady pace.",
			"Mind the feelings of those around you; good fortune is meant to be shared.",
		},
		{
			"Avoid changing direction again and again; indecision wastes your strength.",
			"Be wary of shortcuts and of promises that sound too good to be true.",
			"Do not mistake a pause for failure; patience is the key to this lot.",
		},
		{
			"Do not make major decisions while your spirits are low.",
			"Avoid head-on confrontation; quarrels will only make things harder.",
			"Be careful with opportunities or money of uncertain origin.",
		},
	},
	profession: map[string]string{
		"health":  "A fortune poem is no substitute for medical care; trust your doctor's judgement about your health.",
		"lawsuit": "A fortune poem is no substitute for legal advice; let a lawyer guide the legal questions.",
		"wealth":  "A fortune poem is not financial advice; weigh investments carefully and consult a professional when needed.",
	},
}

// Words that show what kind of question was asked. English words are matched whole, Chinese
// ones as substrings (with 他 handled apart, since 其他 means "other").
var (
	zhDecision = []string{"要不要", "該不該", "是否", "還是", "應不應該", "能不能", "可不可以", "值不值得", "好不好", "選擇", "決定", "猶豫", "该不该", "还是", "选择", "决定"}
	zhTiming   = []string{"何時", "什麼時候", "甚麼時候", "幾時", "時機", "多久", "哪一年", "何年", "什么时候", "时机"}
	zhPeople   = []string{"她", "對方", "家人", "父母", "爸", "媽", "先生", "太太", "老公", "老婆", "男友", "女友", "男朋友", "女朋友", "同事", "主管", "老闆", "朋友", "孩子", "小孩", "婆婆", "伴侶", "另一半", "对方", "老板"}
	enDecision = []string{"should", "whether", "or not", "decide", "decision", "choose", "choice", "worth it", "is it wise"}
	enTiming   = []string{"when", "timing", "how long", "how soon", "this year", "next year", "right time"}
	enPeople   = []string{"he", "she", "him", "her", "they", "them", "partner", "boyfriend", "girlfriend", "husband", "wife", "spouse", "boss", "manager", "colleague", "coworker", "family", "friend", "friends", "parents", "mother", "father", "mom", "dad", "son", "daughter", "child", "children", "kids"}
)

// Fillers that open a question without adding to it.
var (
	zhFillers = []string{"想請問", "請問一下", "請問", "我想問", "想問", "請教", "问一下", "请问"}
	enFillers = []string{"i would like to ask", "i'd like to ask", "i want to ask", "my question is", "please tell me", "can you tell me"}
)
