// Package iso3166 is the one table of countries that georestrict knows: the
// ISO 3166-1 alpha-2 codes, each with its short name in English and in
// Russian, as a reader of a 451 page expects to see it ("Russia", "Россия").
//
// Codes are indexed the way the rest of georestrict indexes them, by
// (first letter - 'A') * 26 + (second letter - 'A'), so a code found on the
// request path turns into a table entry with two subtractions and no map.
//
// The table holds the 249 officially assigned codes (the same set as tzdata's
// iso3166.tab) and two more that country databases answer: XK, Kosovo, which
// is user-assigned in ISO 3166 but which MaxMind, DB-IP and the regional
// registries use, and AN, the Netherlands Antilles, dissolved in 2010 but
// still in registry data (the embedded database has it). [IsAssigned] tells
// them apart. A country database may answer any of them; a register may name
// the assigned codes and XK, but not AN (package blocklist says why).
//
// The names start from the Unicode CLDR short names and are edited for
// reading in running text: "and" instead of "&", "Saint" instead of "St.",
// current names (North Macedonia, Eswatini, Türkiye), no abbreviations in
// Russian ("острова", not "о-ва").
package iso3166

// Size is the number of indices: every pair of letters A-Z.
const Size = 26 * 26

// Country is one entry of the table.
type Country struct {
	// Code is the upper-case ISO 3166-1 alpha-2 code.
	Code string
	// English and Russian are the country's short names.
	English, Russian string
	// Assigned is true for officially assigned codes, false for XK and AN.
	Assigned bool
}

// Name returns the country's name in the language lang, a BCP 47 primary
// language subtag ("en", "ru"); English for languages the table lacks.
func (c Country) Name(lang string) string {
	if lang == "ru" {
		return c.Russian
	}
	return c.English
}

// countries is the table, sorted by code.
var countries = [...]Country{
	{"AD", "Andorra", "Андорра", true},
	{"AE", "United Arab Emirates", "Объединённые Арабские Эмираты", true},
	{"AF", "Afghanistan", "Афганистан", true},
	{"AG", "Antigua and Barbuda", "Антигуа и Барбуда", true},
	{"AI", "Anguilla", "Ангилья", true},
	{"AL", "Albania", "Албания", true},
	{"AM", "Armenia", "Армения", true},
	{"AN", "Netherlands Antilles", "Нидерландские Антильские острова", false},
	{"AO", "Angola", "Ангола", true},
	{"AQ", "Antarctica", "Антарктида", true},
	{"AR", "Argentina", "Аргентина", true},
	{"AS", "American Samoa", "Американское Самоа", true},
	{"AT", "Austria", "Австрия", true},
	{"AU", "Australia", "Австралия", true},
	{"AW", "Aruba", "Аруба", true},
	{"AX", "Åland Islands", "Аландские острова", true},
	{"AZ", "Azerbaijan", "Азербайджан", true},
	{"BA", "Bosnia and Herzegovina", "Босния и Герцеговина", true},
	{"BB", "Barbados", "Барбадос", true},
	{"BD", "Bangladesh", "Бангладеш", true},
	{"BE", "Belgium", "Бельгия", true},
	{"BF", "Burkina Faso", "Буркина-Фасо", true},
	{"BG", "Bulgaria", "Болгария", true},
	{"BH", "Bahrain", "Бахрейн", true},
	{"BI", "Burundi", "Бурунди", true},
	{"BJ", "Benin", "Бенин", true},
	{"BL", "Saint Barthélemy", "Сен-Бартелеми", true},
	{"BM", "Bermuda", "Бермудские Острова", true},
	{"BN", "Brunei", "Бруней", true},
	{"BO", "Bolivia", "Боливия", true},
	{"BQ", "Caribbean Netherlands", "Бонэйр, Синт-Эстатиус и Саба", true},
	{"BR", "Brazil", "Бразилия", true},
	{"BS", "Bahamas", "Багамы", true},
	{"BT", "Bhutan", "Бутан", true},
	{"BV", "Bouvet Island", "остров Буве", true},
	{"BW", "Botswana", "Ботсвана", true},
	{"BY", "Belarus", "Беларусь", true},
	{"BZ", "Belize", "Белиз", true},
	{"CA", "Canada", "Канада", true},
	{"CC", "Cocos (Keeling) Islands", "Кокосовые острова", true},
	{"CD", "Congo (Kinshasa)", "Конго (Киншаса)", true},
	{"CF", "Central African Republic", "Центрально-Африканская Республика", true},
	{"CG", "Congo (Brazzaville)", "Конго (Браззавиль)", true},
	{"CH", "Switzerland", "Швейцария", true},
	{"CI", "Côte d'Ivoire", "Кот-д'Ивуар", true},
	{"CK", "Cook Islands", "Острова Кука", true},
	{"CL", "Chile", "Чили", true},
	{"CM", "Cameroon", "Камерун", true},
	{"CN", "China", "Китай", true},
	{"CO", "Colombia", "Колумбия", true},
	{"CR", "Costa Rica", "Коста-Рика", true},
	{"CU", "Cuba", "Куба", true},
	{"CV", "Cape Verde", "Кабо-Верде", true},
	{"CW", "Curaçao", "Кюрасао", true},
	{"CX", "Christmas Island", "остров Рождества", true},
	{"CY", "Cyprus", "Кипр", true},
	{"CZ", "Czechia", "Чехия", true},
	{"DE", "Germany", "Германия", true},
	{"DJ", "Djibouti", "Джибути", true},
	{"DK", "Denmark", "Дания", true},
	{"DM", "Dominica", "Доминика", true},
	{"DO", "Dominican Republic", "Доминиканская Республика", true},
	{"DZ", "Algeria", "Алжир", true},
	{"EC", "Ecuador", "Эквадор", true},
	{"EE", "Estonia", "Эстония", true},
	{"EG", "Egypt", "Египет", true},
	{"EH", "Western Sahara", "Западная Сахара", true},
	{"ER", "Eritrea", "Эритрея", true},
	{"ES", "Spain", "Испания", true},
	{"ET", "Ethiopia", "Эфиопия", true},
	{"FI", "Finland", "Финляндия", true},
	{"FJ", "Fiji", "Фиджи", true},
	{"FK", "Falkland Islands", "Фолклендские острова", true},
	{"FM", "Micronesia", "Микронезия", true},
	{"FO", "Faroe Islands", "Фарерские острова", true},
	{"FR", "France", "Франция", true},
	{"GA", "Gabon", "Габон", true},
	{"GB", "United Kingdom", "Великобритания", true},
	{"GD", "Grenada", "Гренада", true},
	{"GE", "Georgia", "Грузия", true},
	{"GF", "French Guiana", "Французская Гвиана", true},
	{"GG", "Guernsey", "Гернси", true},
	{"GH", "Ghana", "Гана", true},
	{"GI", "Gibraltar", "Гибралтар", true},
	{"GL", "Greenland", "Гренландия", true},
	{"GM", "Gambia", "Гамбия", true},
	{"GN", "Guinea", "Гвинея", true},
	{"GP", "Guadeloupe", "Гваделупа", true},
	{"GQ", "Equatorial Guinea", "Экваториальная Гвинея", true},
	{"GR", "Greece", "Греция", true},
	{"GS", "South Georgia and the South Sandwich Islands", "Южная Георгия и Южные Сандвичевы острова", true},
	{"GT", "Guatemala", "Гватемала", true},
	{"GU", "Guam", "Гуам", true},
	{"GW", "Guinea-Bissau", "Гвинея-Бисау", true},
	{"GY", "Guyana", "Гайана", true},
	{"HK", "Hong Kong", "Гонконг", true},
	{"HM", "Heard Island and McDonald Islands", "остров Херд и острова Макдональд", true},
	{"HN", "Honduras", "Гондурас", true},
	{"HR", "Croatia", "Хорватия", true},
	{"HT", "Haiti", "Гаити", true},
	{"HU", "Hungary", "Венгрия", true},
	{"ID", "Indonesia", "Индонезия", true},
	{"IE", "Ireland", "Ирландия", true},
	{"IL", "Israel", "Израиль", true},
	{"IM", "Isle of Man", "остров Мэн", true},
	{"IN", "India", "Индия", true},
	{"IO", "British Indian Ocean Territory", "Британская территория в Индийском океане", true},
	{"IQ", "Iraq", "Ирак", true},
	{"IR", "Iran", "Иран", true},
	{"IS", "Iceland", "Исландия", true},
	{"IT", "Italy", "Италия", true},
	{"JE", "Jersey", "Джерси", true},
	{"JM", "Jamaica", "Ямайка", true},
	{"JO", "Jordan", "Иордания", true},
	{"JP", "Japan", "Япония", true},
	{"KE", "Kenya", "Кения", true},
	{"KG", "Kyrgyzstan", "Киргизия", true},
	{"KH", "Cambodia", "Камбоджа", true},
	{"KI", "Kiribati", "Кирибати", true},
	{"KM", "Comoros", "Коморы", true},
	{"KN", "Saint Kitts and Nevis", "Сент-Китс и Невис", true},
	{"KP", "North Korea", "КНДР", true},
	{"KR", "South Korea", "Республика Корея", true},
	{"KW", "Kuwait", "Кувейт", true},
	{"KY", "Cayman Islands", "Каймановы острова", true},
	{"KZ", "Kazakhstan", "Казахстан", true},
	{"LA", "Laos", "Лаос", true},
	{"LB", "Lebanon", "Ливан", true},
	{"LC", "Saint Lucia", "Сент-Люсия", true},
	{"LI", "Liechtenstein", "Лихтенштейн", true},
	{"LK", "Sri Lanka", "Шри-Ланка", true},
	{"LR", "Liberia", "Либерия", true},
	{"LS", "Lesotho", "Лесото", true},
	{"LT", "Lithuania", "Литва", true},
	{"LU", "Luxembourg", "Люксембург", true},
	{"LV", "Latvia", "Латвия", true},
	{"LY", "Libya", "Ливия", true},
	{"MA", "Morocco", "Марокко", true},
	{"MC", "Monaco", "Монако", true},
	{"MD", "Moldova", "Молдова", true},
	{"ME", "Montenegro", "Черногория", true},
	{"MF", "Saint Martin", "Сен-Мартен", true},
	{"MG", "Madagascar", "Мадагаскар", true},
	{"MH", "Marshall Islands", "Маршалловы Острова", true},
	{"MK", "North Macedonia", "Северная Македония", true},
	{"ML", "Mali", "Мали", true},
	{"MM", "Myanmar", "Мьянма", true},
	{"MN", "Mongolia", "Монголия", true},
	{"MO", "Macao", "Макао", true},
	{"MP", "Northern Mariana Islands", "Северные Марианские острова", true},
	{"MQ", "Martinique", "Мартиника", true},
	{"MR", "Mauritania", "Мавритания", true},
	{"MS", "Montserrat", "Монтсеррат", true},
	{"MT", "Malta", "Мальта", true},
	{"MU", "Mauritius", "Маврикий", true},
	{"MV", "Maldives", "Мальдивы", true},
	{"MW", "Malawi", "Малави", true},
	{"MX", "Mexico", "Мексика", true},
	{"MY", "Malaysia", "Малайзия", true},
	{"MZ", "Mozambique", "Мозамбик", true},
	{"NA", "Namibia", "Намибия", true},
	{"NC", "New Caledonia", "Новая Каледония", true},
	{"NE", "Niger", "Нигер", true},
	{"NF", "Norfolk Island", "остров Норфолк", true},
	{"NG", "Nigeria", "Нигерия", true},
	{"NI", "Nicaragua", "Никарагуа", true},
	{"NL", "Netherlands", "Нидерланды", true},
	{"NO", "Norway", "Норвегия", true},
	{"NP", "Nepal", "Непал", true},
	{"NR", "Nauru", "Науру", true},
	{"NU", "Niue", "Ниуэ", true},
	{"NZ", "New Zealand", "Новая Зеландия", true},
	{"OM", "Oman", "Оман", true},
	{"PA", "Panama", "Панама", true},
	{"PE", "Peru", "Перу", true},
	{"PF", "French Polynesia", "Французская Полинезия", true},
	{"PG", "Papua New Guinea", "Папуа — Новая Гвинея", true},
	{"PH", "Philippines", "Филиппины", true},
	{"PK", "Pakistan", "Пакистан", true},
	{"PL", "Poland", "Польша", true},
	{"PM", "Saint Pierre and Miquelon", "Сен-Пьер и Микелон", true},
	{"PN", "Pitcairn Islands", "острова Питкэрн", true},
	{"PR", "Puerto Rico", "Пуэрто-Рико", true},
	{"PS", "Palestine", "Палестина", true},
	{"PT", "Portugal", "Португалия", true},
	{"PW", "Palau", "Палау", true},
	{"PY", "Paraguay", "Парагвай", true},
	{"QA", "Qatar", "Катар", true},
	{"RE", "Réunion", "Реюньон", true},
	{"RO", "Romania", "Румыния", true},
	{"RS", "Serbia", "Сербия", true},
	{"RU", "Russia", "Россия", true},
	{"RW", "Rwanda", "Руанда", true},
	{"SA", "Saudi Arabia", "Саудовская Аравия", true},
	{"SB", "Solomon Islands", "Соломоновы Острова", true},
	{"SC", "Seychelles", "Сейшельские Острова", true},
	{"SD", "Sudan", "Судан", true},
	{"SE", "Sweden", "Швеция", true},
	{"SG", "Singapore", "Сингапур", true},
	{"SH", "Saint Helena", "остров Святой Елены", true},
	{"SI", "Slovenia", "Словения", true},
	{"SJ", "Svalbard and Jan Mayen", "Шпицберген и Ян-Майен", true},
	{"SK", "Slovakia", "Словакия", true},
	{"SL", "Sierra Leone", "Сьерра-Леоне", true},
	{"SM", "San Marino", "Сан-Марино", true},
	{"SN", "Senegal", "Сенегал", true},
	{"SO", "Somalia", "Сомали", true},
	{"SR", "Suriname", "Суринам", true},
	{"SS", "South Sudan", "Южный Судан", true},
	{"ST", "São Tomé and Príncipe", "Сан-Томе и Принсипи", true},
	{"SV", "El Salvador", "Сальвадор", true},
	{"SX", "Sint Maarten", "Синт-Мартен", true},
	{"SY", "Syria", "Сирия", true},
	{"SZ", "Eswatini", "Эсватини", true},
	{"TC", "Turks and Caicos Islands", "Тёркс и Кайкос", true},
	{"TD", "Chad", "Чад", true},
	{"TF", "French Southern Territories", "Французские Южные территории", true},
	{"TG", "Togo", "Того", true},
	{"TH", "Thailand", "Таиланд", true},
	{"TJ", "Tajikistan", "Таджикистан", true},
	{"TK", "Tokelau", "Токелау", true},
	{"TL", "Timor-Leste", "Восточный Тимор", true},
	{"TM", "Turkmenistan", "Туркменистан", true},
	{"TN", "Tunisia", "Тунис", true},
	{"TO", "Tonga", "Тонга", true},
	{"TR", "Türkiye", "Турция", true},
	{"TT", "Trinidad and Tobago", "Тринидад и Тобаго", true},
	{"TV", "Tuvalu", "Тувалу", true},
	{"TW", "Taiwan", "Тайвань", true},
	{"TZ", "Tanzania", "Танзания", true},
	{"UA", "Ukraine", "Украина", true},
	{"UG", "Uganda", "Уганда", true},
	{"UM", "United States Minor Outlying Islands", "Внешние малые острова США", true},
	{"US", "United States", "США", true},
	{"UY", "Uruguay", "Уругвай", true},
	{"UZ", "Uzbekistan", "Узбекистан", true},
	{"VA", "Vatican City", "Ватикан", true},
	{"VC", "Saint Vincent and the Grenadines", "Сент-Винсент и Гренадины", true},
	{"VE", "Venezuela", "Венесуэла", true},
	{"VG", "British Virgin Islands", "Британские Виргинские острова", true},
	{"VI", "U.S. Virgin Islands", "Виргинские острова США", true},
	{"VN", "Vietnam", "Вьетнам", true},
	{"VU", "Vanuatu", "Вануату", true},
	{"WF", "Wallis and Futuna", "Уоллис и Футуна", true},
	{"WS", "Samoa", "Самоа", true},
	{"XK", "Kosovo", "Косово", false},
	{"YE", "Yemen", "Йемен", true},
	{"YT", "Mayotte", "Майотта", true},
	{"ZA", "South Africa", "Южно-Африканская Республика", true},
	{"ZM", "Zambia", "Замбия", true},
	{"ZW", "Zimbabwe", "Зимбабве", true},
}

// byIndex maps a code's index to 1 + its position in countries; 0 means no
// entry.
var byIndex = func() (t [Size]uint8) {
	for i, c := range countries {
		t[Index(c.Code)] = uint8(i + 1)
	}
	return t
}()

// codes holds every two-letter code "AA".."ZZ" by index, as substrings of one
// string, so that [Code] never allocates.
var codes = func() (t [Size]string) {
	var b [2 * Size]byte
	for i := range Size {
		b[2*i] = 'A' + byte(i/26)
		b[2*i+1] = 'A' + byte(i%26)
	}
	all := string(b[:])
	for i := range t {
		t[i] = all[2*i : 2*i+2]
	}
	return t
}()

// Index returns the index of a two-letter code in either case, or -1 when
// code is not two ASCII letters. Every pair of letters has an index, whether
// or not the table lists it. It takes bytes too, so that a code read in place
// from a database is looked up without first being copied into a string.
func Index[S ~string | ~[]byte](code S) int {
	if len(code) != 2 {
		return -1
	}
	a, b := code[0]|0x20, code[1]|0x20
	if a < 'a' || a > 'z' || b < 'a' || b > 'z' {
		return -1
	}
	return int(a-'a')*26 + int(b-'a')
}

// Code returns the upper-case code of index i, or "" when i is out of range.
func Code(i int) string {
	if i < 0 || i >= Size {
		return ""
	}
	return codes[i]
}

// ByIndex returns the country of index i, if the table lists one.
func ByIndex(i int) (Country, bool) {
	if i < 0 || i >= Size || byIndex[i] == 0 {
		return Country{}, false
	}
	return countries[byIndex[i]-1], true
}

// Lookup returns the country of a two-letter code in either case, if the
// table lists one.
func Lookup(code string) (Country, bool) {
	return ByIndex(Index(code))
}

// IsAssigned reports whether code, in either case, is an officially assigned
// ISO 3166-1 alpha-2 code.
func IsAssigned(code string) bool {
	c, ok := Lookup(code)
	return ok && c.Assigned
}

// Name returns the name of the country with code in the language lang
// ("en", "ru"), or code itself when the table does not list it.
func Name(code, lang string) string {
	if c, ok := Lookup(code); ok {
		return c.Name(lang)
	}
	return code
}

// All returns every country of the table, sorted by code. The slice is a
// copy.
func All() []Country {
	out := make([]Country, len(countries))
	copy(out, countries[:])
	return out
}
