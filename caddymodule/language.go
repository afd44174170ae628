package caddymodule

import (
	"strconv"
	"strings"
	"time"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

// language holds what the 451 answer says in one language. The register's
// own text (authority, reference, reason) is shown as written, whatever the
// language; only georestrict's words are translated.
//
// Sentences are whole, per kind of content, rather than assembled from
// words: Russian adjectives and pronouns agree with the noun ("эта
// публикация", "этот аккаунт"), and country names are never put after a
// preposition, which would need articles in English ("the Netherlands") and
// a case ending in Russian ("в России").
type language struct {
	code  string // BCP 47 primary subtag, for Content-Language and <html lang>
	title string // first line of the text answer and <title>
	badge string // the small status line above the headline

	// By kind of content (post, account, page).
	headline        [3]string // the client's country is known
	headlineUnknown [3]string // it is not
	leadCountry     [3]string // "%s" is the country's name
	leadUnknown     [3]string
	leadEverywhere  [3]string
	elsewhere       [3]string // said when the order does not apply everywhere

	post, account, page, pages string // what is withheld, "%s" is the id, handle or path

	withheldLabel, countryLabel, authorityLabel, referenceLabel, noticeLabel,
	reasonLabel, untilLabel, orderLabel, blockedByLabel string
	footer string

	months [12]string
	date   string // with "%d", "%m" and "%y" for day, month name and year
}

var english = &language{
	code:  "en",
	title: "451 Unavailable For Legal Reasons",
	badge: "451 · Unavailable for legal reasons",
	headline: [3]string{
		"This post is withheld in your country",
		"This account is withheld in your country",
		"This page is withheld in your country",
	},
	headlineUnknown: [3]string{
		"This post is withheld where you are",
		"This account is withheld where you are",
		"This page is withheld where you are",
	},
	leadCountry: [3]string{
		"A legal demand requires that this post is not shown to visitors from your country (%s).",
		"A legal demand requires that this account is not shown to visitors from your country (%s).",
		"A legal demand requires that this page is not shown to visitors from your country (%s).",
	},
	leadUnknown: [3]string{
		"A legal demand requires that this post is not shown in some countries, and the country you are visiting from cannot be determined.",
		"A legal demand requires that this account is not shown in some countries, and the country you are visiting from cannot be determined.",
		"A legal demand requires that this page is not shown in some countries, and the country you are visiting from cannot be determined.",
	},
	leadEverywhere: [3]string{
		"A legal demand requires that this post is not shown in any country.",
		"A legal demand requires that this account is not shown in any country.",
		"A legal demand requires that this page is not shown in any country.",
	},
	elsewhere: [3]string{
		"It is still available elsewhere.",
		"It is still available elsewhere.",
		"It is still available elsewhere.",
	},
	post:           "post %s",
	account:        "account @%s",
	page:           "page %s",
	pages:          "pages starting with %s",
	withheldLabel:  "Withheld",
	countryLabel:   "Country",
	authorityLabel: "Demanded by",
	referenceLabel: "Decision",
	noticeLabel:    "Public notice",
	reasonLabel:    "Reason",
	untilLabel:     "Until",
	orderLabel:     "Order",
	blockedByLabel: "Blocked by",
	footer:         "HTTP status 451 (RFC\u00a07725).",
	months: [12]string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"},
	date: "%d %m %y",
}

var russian = &language{
	code:  "ru",
	title: "451 Недоступно по юридическим причинам",
	badge: "451 · Недоступно по юридическим причинам",
	headline: [3]string{
		"Эта публикация недоступна в вашей стране",
		"Этот аккаунт недоступен в вашей стране",
		"Эта страница недоступна в вашей стране",
	},
	headlineUnknown: [3]string{
		"Эта публикация недоступна в вашем регионе",
		"Этот аккаунт недоступен в вашем регионе",
		"Эта страница недоступна в вашем регионе",
	},
	leadCountry: [3]string{
		"Доступ к ней для посетителей из вашей страны (%s) ограничен по требованию властей.",
		"Доступ к нему для посетителей из вашей страны (%s) ограничен по требованию властей.",
		"Доступ к ней для посетителей из вашей страны (%s) ограничен по требованию властей.",
	},
	leadUnknown: [3]string{
		"Доступ к ней ограничен по требованию властей в некоторых странах, а страну, из которой вы заходите, определить не удалось.",
		"Доступ к нему ограничен по требованию властей в некоторых странах, а страну, из которой вы заходите, определить не удалось.",
		"Доступ к ней ограничен по требованию властей в некоторых странах, а страну, из которой вы заходите, определить не удалось.",
	},
	leadEverywhere: [3]string{
		"Доступ к ней ограничен по требованию властей во всех странах.",
		"Доступ к нему ограничен по требованию властей во всех странах.",
		"Доступ к ней ограничен по требованию властей во всех странах.",
	},
	elsewhere: [3]string{
		"В других странах она доступна.",
		"В других странах он доступен.",
		"В других странах она доступна.",
	},
	post:           "публикация %s",
	account:        "аккаунт @%s",
	page:           "страница %s",
	pages:          "страницы, начинающиеся с %s",
	withheldLabel:  "Что скрыто",
	countryLabel:   "Страна",
	authorityLabel: "Орган, принявший решение",
	referenceLabel: "Решение",
	noticeLabel:    "Публичное уведомление",
	reasonLabel:    "Причина",
	untilLabel:     "Действует до",
	orderLabel:     "Предписание",
	blockedByLabel: "Доступ ограничивает",
	footer:         "Код ответа HTTP\u00a0451 (RFC\u00a07725).",
	months: [12]string{"января", "февраля", "марта", "апреля", "мая", "июня", "июля",
		"августа", "сентября", "октября", "ноября", "декабря"},
	date: "%d %m %y г.",
}

// languages are the languages of the answer; the first is the default.
var languages = []*language{english, russian}

// negotiateLanguage picks the answer's language from an Accept-Language
// header (RFC 9110): the supported language with the highest quality value,
// the earlier one on a tie; `*` stands for the default. A missing header, or
// one that names no supported language, gets the default, English.
func negotiateLanguage(header string) *language {
	best, bestQ := languages[0], 0.0
	for l := weightedList(header); ; {
		tag, q, ok := l.next()
		if !ok {
			return best
		}
		if q <= 0 || q <= bestQ {
			continue
		}
		// "ru-RU" and, though not BCP 47, "ru_RU" are Russian.
		primary, _, _ := strings.Cut(tag, "-")
		primary, _, _ = strings.Cut(primary, "_")
		if primary == "*" {
			best, bestQ = languages[0], q
			continue
		}
		for _, l := range languages {
			if strings.EqualFold(primary, l.code) {
				best, bestQ = l, q
				break
			}
		}
	}
}

// pageText is the built-in answer's text in one language, for one notice.
type pageText struct {
	Lang, Title, Badge, Headline, Lead string

	WithheldLabel, CountryLabel, AuthorityLabel, ReferenceLabel, NoticeLabel,
	ReasonLabel, UntilLabel, OrderLabel, BlockedByLabel string

	Withheld string // what is withheld, in words: "post 123"
	Until    string // the end date, written out
	Footer   string
}

// texts writes the built-in answer's text for n, whose order withholds
// target, in language l. everywhere says the order applies in every country.
func (l *language) texts(n Notice, target blocklist.Target, everywhere bool) pageText {
	k := 2
	switch target.Kind {
	case blocklist.TargetPost:
		k = 0
	case blocklist.TargetAccount:
		k = 1
	}
	t := pageText{
		Lang: l.code, Title: l.title, Badge: l.badge, Footer: l.footer,
		WithheldLabel: l.withheldLabel, CountryLabel: l.countryLabel, AuthorityLabel: l.authorityLabel,
		ReferenceLabel: l.referenceLabel, NoticeLabel: l.noticeLabel, ReasonLabel: l.reasonLabel,
		UntilLabel: l.untilLabel, OrderLabel: l.orderLabel, BlockedByLabel: l.blockedByLabel,
	}
	switch {
	case n.Country == "":
		t.Headline = l.headlineUnknown[k]
	default:
		t.Headline = l.headline[k]
	}
	switch {
	case everywhere:
		t.Lead = l.leadEverywhere[k]
	case n.Country == "":
		t.Lead = l.leadUnknown[k]
	default:
		t.Lead = strings.Replace(l.leadCountry[k], "%s", n.CountryName, 1) + " " + l.elsewhere[k]
	}
	switch path := strings.TrimPrefix(target.String(), "path:"); target.Kind {
	case blocklist.TargetPost:
		t.Withheld = strings.Replace(l.post, "%s", target.Value, 1)
	case blocklist.TargetAccount:
		t.Withheld = strings.Replace(l.account, "%s", target.Value, 1)
	case blocklist.TargetPathPrefix:
		t.Withheld = strings.Replace(l.pages, "%s", strings.TrimSuffix(path, "*"), 1)
	default:
		t.Withheld = strings.Replace(l.page, "%s", path, 1)
	}
	if n.Until != nil {
		t.Until = l.formatDate(*n.Until)
	}
	return t
}

// formatDate writes the day of t (in UTC, as register dates are) in words.
func (l *language) formatDate(t time.Time) string {
	t = t.UTC()
	return strings.NewReplacer(
		"%d", strconv.Itoa(t.Day()),
		"%m", l.months[t.Month()-1],
		"%y", strconv.Itoa(t.Year()),
	).Replace(l.date)
}
