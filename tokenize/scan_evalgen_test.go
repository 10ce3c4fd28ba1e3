package tokenize

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// This file generates the scanner's labelled evaluation set: columns of
// values (each labelled with the PII types it holds) and free text (each
// PII span labelled with its type and exact position). Formats vary as they
// do in real exports, values are missing or masked, and most columns that
// hold no PII are hard negatives: identifiers, timestamps, versions and
// numbers that a careless detector takes for phone or card numbers.

type evalGen struct{ r *rand.Rand }

func (g evalGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g evalGen) chance(p float64) bool    { return g.r.Float64() < p }

func (g evalGen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

func (g evalGen) hex(n int) string {
	const h = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = h[g.r.IntN(16)]
	}
	return string(b)
}

var (
	evalFirst = []string{"James", "Mary", "Ada", "Alan", "Grace", "Wei", "Priya", "José", "Fatima", "Olga",
		"Liam", "Noah", "Emma", "Sofia", "Mohammed", "Yuki", "Chen", "Aisha", "Lars", "Zoë",
		"Mary-Jane", "Jean-Luc", "Siobhan", "Dmitri", "Kwame", "Ingrid", "Mateo", "Hannah", "Raj", "Chloé"}
	evalLast = []string{"Smith", "Lovelace", "Turing", "Hopper", "García", "Nguyen", "Müller", "O'Brien",
		"van der Berg", "Okafor", "Kowalski", "Rossi", "Tanaka", "Patel", "Johansson", "Dubois",
		"Silva", "Kim", "Ivanova", "McAllister", "Haddad", "Schmidt", "López", "Brown", "Wilson"}
	evalDomains = []string{"gmail.com", "yahoo.co.uk", "outlook.com", "example.com", "mail.example.org",
		"corp.example.co.uk", "uni-heidelberg.de", "proton.me", "startup.io", "acme-industries.com",
		"post.example.museum", "icloud.com"}
	evalWords = []string{"the", "customer", "asked", "about", "delivery", "invoice", "refund", "please",
		"update", "account", "thanks", "again", "shipment", "was", "late", "and", "box", "damaged",
		"follow", "up", "next", "week", "priority", "resolved", "escalated", "to", "billing", "team"}
)

func (g evalGen) first() string { return g.pick(evalFirst...) }
func (g evalGen) last() string  { return g.pick(evalLast...) }

func (g evalGen) person() string {
	f, l := g.first(), g.last()
	switch g.r.IntN(10) {
	case 0:
		return l + ", " + f
	case 1:
		return f + " " + string("ABCDEJKLMR"[g.r.IntN(10)]) + ". " + l
	case 2:
		return strings.ToLower(f + " " + l)
	case 3:
		return strings.ToUpper(l) + " " + f
	}
	return f + " " + l
}

func asciiFold(s string) string {
	r := strings.NewReplacer("é", "e", "ë", "e", "ü", "u", "í", "i", "ó", "o", "á", "a", "ç", "c", "'", "", " ", "")
	return strings.ToLower(r.Replace(s))
}

func (g evalGen) email() string {
	f, l := asciiFold(g.first()), asciiFold(g.last())
	var local string
	switch g.r.IntN(7) {
	case 0:
		local = f + "." + l
	case 1:
		local = f[:1] + l
	case 2:
		local = f + "_" + l + g.digits(2)
	case 3:
		local = f + "+" + g.pick("news", "shop", "work", "2024")
	case 4:
		local = l + g.digits(1+g.r.IntN(4))
	case 5:
		local = f + "." + f[:1] + "." + l
	default:
		local = f
	}
	e := local + "@" + g.pick(evalDomains...)
	if g.chance(0.08) {
		e = strings.ToUpper(e)
	}
	return e
}

// nanp returns a North American number's area code, exchange and line.
func (g evalGen) nanp() (string, string, string) {
	return fmt.Sprint(2+g.r.IntN(8)) + g.digits(2), fmt.Sprint(2+g.r.IntN(8)) + g.digits(2), g.digits(4)
}

// phone returns a phone number in one of the formats people and systems
// write, and sometimes an extension after it (not part of the number).
// Bare digits are among the formats only if bare.
func (g evalGen) phone(bare bool) (num, ext string) {
	return g.phoneAs(g.phoneFormat(bare))
}

const phoneFormats = 21

func (g evalGen) phoneFormat(bare bool) int {
	if bare {
		return g.r.IntN(phoneFormats + 1)
	}
	return g.r.IntN(phoneFormats)
}

func (g evalGen) phoneAs(format int) (num, ext string) {
	a, e, l := g.nanp()
	num = []func() string{
		func() string { return "(" + a + ") " + e + "-" + l },
		func() string { return a + "-" + e + "-" + l },
		func() string { return a + "." + e + "." + l },
		func() string { return a + " " + e + " " + l },
		func() string { return "+1 " + a + "-" + e + "-" + l },
		func() string { return "+1 (" + a + ") " + e + "-" + l },
		func() string { return "1-" + a + "-" + e + "-" + l },
		func() string { return "+1" + a + e + l },
		func() string { return "+44 20 " + g.digits(4) + " " + g.digits(4) },
		func() string { return "+44 7" + g.digits(3) + " " + g.digits(6) },
		func() string { return "020 " + g.digits(4) + " " + g.digits(4) },
		func() string { return "+49 30 " + g.digits(6+g.r.IntN(3)) },
		func() string { return "+49 1" + g.digits(2) + " " + g.digits(7) },
		func() string {
			return fmt.Sprintf("+33 %d %s %s %s %s", 1+g.r.IntN(9), g.digits(2), g.digits(2), g.digits(2), g.digits(2))
		},
		func() string { return "+91 9" + g.digits(4) + " " + g.digits(5) },
		func() string { return "+61 4" + g.digits(2) + " " + g.digits(3) + " " + g.digits(3) },
		func() string { return "(" + a + ")" + e + "-" + l },
		func() string { return a + "/" + e + "-" + l },
		func() string { return "+1." + a + "." + e + "." + l },
		func() string { return "+44 (0)20 " + g.digits(4) + " " + g.digits(4) },
		func() string { return "0049 30 " + g.digits(7) },
		func() string { return a + e + l }, // bare: the last
	}[format]()
	if g.chance(0.06) {
		ext = g.pick(" x", " ext. ", " ext ", " #") + fmt.Sprint(1+g.r.IntN(999))
	}
	return num, ext
}

func (g evalGen) ssn(dashes bool) string {
	a := 1 + g.r.IntN(899)
	if a == 666 {
		a = 667
	}
	d := fmt.Sprintf("%03d%02d%04d", a, 1+g.r.IntN(99), 1+g.r.IntN(9999))
	if dashes || g.chance(0.8) {
		sep := "-"
		if g.chance(0.1) {
			sep = " "
		}
		return d[:3] + sep + d[3:5] + sep + d[5:]
	}
	return d
}

func luhnDigit(d string) string {
	for c := byte('0'); c <= '9'; c++ {
		if luhn(d + string(c)) {
			return string(c)
		}
	}
	panic("unreachable")
}

func (g evalGen) card() string {
	iss := []struct {
		p string
		n int
	}{{"4", 16}, {"4", 16}, {"4", 13}, {"51", 16}, {"53", 16}, {"55", 16}, {"2221", 16}, {"2720", 16},
		{"34", 15}, {"37", 15}, {"6011", 16}, {"65", 16}, {"644", 16}, {"3530", 16}, {"3589", 16},
		{"36", 14}, {"62", 16}, {"4", 19}}[g.r.IntN(18)]
	d := iss.p + g.digits(iss.n-len(iss.p)-1)
	d += luhnDigit(d)
	switch g.r.IntN(4) {
	case 0:
		return d
	case 1, 2:
		sep := g.pick(" ", "-")
		if len(d) == 15 { // Amex: 4-6-5
			return d[:4] + sep + d[4:10] + sep + d[10:]
		}
		var b strings.Builder
		for i := range len(d) {
			if i > 0 && i%4 == 0 {
				b.WriteString(sep)
			}
			b.WriteByte(d[i])
		}
		return b.String()
	}
	return d
}

// ibanOf completes an IBAN: ISO 13616 check digits for country cc and bban.
func ibanOf(cc, bban string) string {
	for c := 2; c <= 98; c++ {
		v := fmt.Sprintf("%s%02d%s", cc, c, bban)
		if validIBAN(v) {
			return v
		}
	}
	panic("no check digits for " + cc + bban)
}

func (g evalGen) upperAlnum(n int) string {
	const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = a[g.r.IntN(len(a))]
	}
	return string(b)
}

func (g evalGen) upper(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('A' + g.r.IntN(26))
	}
	return string(b)
}

func (g evalGen) iban() string {
	var v string
	switch g.r.IntN(8) {
	case 0, 1:
		v = ibanOf("DE", g.digits(18))
	case 2:
		v = ibanOf("GB", g.upper(4)+g.digits(14))
	case 3:
		v = ibanOf("FR", g.digits(10)+g.upperAlnum(11)+g.digits(2))
	case 4:
		v = ibanOf("NL", g.upper(4)+g.digits(10))
	case 5:
		v = ibanOf("ES", g.digits(20))
	case 6:
		v = ibanOf("IT", g.upper(1)+g.digits(10)+g.upperAlnum(12))
	default:
		v = ibanOf("CH", g.digits(5)+g.upperAlnum(12))
	}
	if g.chance(0.5) { // the print format: groups of four
		var b strings.Builder
		for i := range len(v) {
			if i > 0 && i%4 == 0 {
				b.WriteByte(' ')
			}
			b.WriteByte(v[i])
		}
		v = b.String()
	}
	return v
}

func (g evalGen) ipv4() string {
	switch g.r.IntN(4) {
	case 0:
		return fmt.Sprintf("10.%d.%d.%d", g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
	case 1:
		return fmt.Sprintf("192.168.%d.%d", g.r.IntN(256), 1+g.r.IntN(254))
	}
	return fmt.Sprintf("%d.%d.%d.%d", 1+g.r.IntN(223), g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
}

func (g evalGen) ip() string {
	switch g.r.IntN(10) {
	case 0:
		return fmt.Sprintf("2001:db8:%x::%x", g.r.IntN(65536), 1+g.r.IntN(65535))
	case 1:
		return fmt.Sprintf("2a02:%x:%x:%x:%x:%x:%x:%x", g.r.IntN(65536), g.r.IntN(65536), g.r.IntN(65536),
			g.r.IntN(65536), g.r.IntN(65536), g.r.IntN(65536), g.r.IntN(65536))
	case 2:
		return "fe80::" + g.hex(4) + ":" + g.hex(2) + "ff:fe" + g.hex(2) + ":" + g.hex(4)
	case 3:
		return "::ffff:" + g.ipv4()
	}
	return g.ipv4()
}

var dobLayouts = []string{"2006-01-02", "01/02/2006", "1/2/2006", "02/01/2006", "02.01.2006", "Jan 2, 2006",
	"2 January 2006", "2006-01-02 15:04:05", "20060102", "02-Jan-2006"}

func (g evalGen) date(fromYear, years int) string {
	return fmt.Sprintf("%04d-%02d-%02d", fromYear+g.r.IntN(years), 1+g.r.IntN(12), 1+g.r.IntN(28))
}

// --- look-alikes that are not PII ---

func (g evalGen) uuid() string {
	return g.hex(8) + "-" + g.hex(4) + "-4" + g.hex(3) + "-" + g.pick("8", "9", "a", "b") + g.hex(3) + "-" + g.hex(12)
}

// luhnOrderID is an order number with a Luhn check digit, as many order
// and account numbering schemes use; some fall in card issuers' ranges.
func (g evalGen) luhnOrderID() string {
	d := fmt.Sprint(1+g.r.IntN(9)) + g.digits(12+g.r.IntN(4))
	return d + luhnDigit(d)
}

func (g evalGen) isbn13() string {
	d := g.pick("978", "979") + g.digits(9)
	s := 0
	for i := range 12 {
		w := 1
		if i%2 == 1 {
			w = 3
		}
		s += int(d[i]-'0') * w
	}
	d += fmt.Sprint((10 - s%10) % 10)
	if g.chance(0.5) {
		return d[:3] + "-" + d[3:4] + "-" + d[4:7] + "-" + d[7:12] + "-" + d[12:]
	}
	return d
}

func (g evalGen) epoch() string   { return fmt.Sprint(1_300_000_000 + g.r.IntN(500_000_000)) }
func (g evalGen) epochMs() string { return g.epoch() + g.digits(3) }

func (g evalGen) price() string {
	return g.pick("$", "€", "USD ", "") + fmt.Sprintf("%d.%02d", g.r.IntN(5000), g.r.IntN(100))
}

func (g evalGen) version() string {
	switch g.r.IntN(4) {
	case 0:
		return fmt.Sprintf("v%d.%d.%d", g.r.IntN(5), g.r.IntN(30), g.r.IntN(200))
	case 1:
		return fmt.Sprintf("10.0.%d.%d", 17000+g.r.IntN(6000), g.r.IntN(5000))
	case 2:
		return fmt.Sprintf("%d.%d.%d-rc%d", g.r.IntN(5), g.r.IntN(30), g.r.IntN(20), 1+g.r.IntN(5))
	}
	return fmt.Sprintf("%d.%02d.%d", 2019+g.r.IntN(7), 1+g.r.IntN(12), g.r.IntN(10))
}

func (g evalGen) tracking() string {
	if g.chance(0.5) {
		return "1Z" + g.upperAlnum(6) + g.digits(10)
	}
	d := g.digits(12)
	if g.chance(0.5) {
		return d[:4] + " " + d[4:8] + " " + d[8:]
	}
	return d
}

func (g evalGen) invoice() string {
	return fmt.Sprintf("INV-%d-%04d-%04d", 2018+g.r.IntN(8), g.r.IntN(10000), g.r.IntN(10000))
}

func (g evalGen) datetime() string {
	return fmt.Sprintf("%s %02d:%02d:%02d", g.date(2015, 10), g.r.IntN(24), g.r.IntN(60), g.r.IntN(60))
}

// --- columns ---

// An evalColumn is one column of the evaluation set.
type evalColumn struct {
	name   string
	values []string
	types  []string // the PII types it holds: the label
	kind   string   // structured, free text, mixed (one kind of PII a value, kinds vary), negative
}

const evalColumnValues = 250

// fill makes a column's values: gen's, with some missing (empty, N/A, a
// dash), as exports have.
func (g evalGen) fill(gen func() string) []string {
	blank := []float64{0, 0, 0.05, 0.15, 0.3}[g.r.IntN(5)]
	na := g.pick("", "N/A", "-", "unknown", "null", "n/a")
	vals := make([]string, evalColumnValues)
	for i := range vals {
		switch {
		case g.chance(blank):
			vals[i] = ""
		case na != "" && g.chance(0.03):
			vals[i] = na
		default:
			vals[i] = gen()
		}
	}
	return vals
}

// header returns one of the hinted names with probability p, else a
// neutral one.
func (g evalGen) header(p float64, hinted, neutral []string) string {
	return g.names(g.chance(p), hinted, neutral)
}

// names returns one of the hinted names if hinted, else a neutral one.
func (g evalGen) names(hinted bool, h, neutral []string) string {
	if hinted {
		return g.pick(h...)
	}
	return g.pick(neutral...)
}

// structured returns a column holding PII of type typ, one value a cell.
func (g evalGen) structured(typ string) evalColumn {
	c := evalColumn{types: []string{typ}, kind: "structured"}
	switch typ {
	case TypeEmail:
		c.name = g.header(0.7, []string{"email", "Email", "e_mail", "contact_email", "emailAddress", "Email Address", "user_email", "billing_email"},
			[]string{"contact", "login", "value", "username", "col_4"})
		c.values = g.fill(g.email)
	case TypePhone:
		hinted := g.chance(0.75)
		c.name = g.names(hinted, []string{"phone", "Phone Number", "mobile", "contact_no", "tel", "phoneNumber", "cell", "home_phone", "fax"},
			[]string{"contact", "value", "primary", "alt_contact", "col_7"})
		// One format for the column (a system's export) or many (typed by people).
		// Bare digits too where the name says nothing: the scanner cannot
		// tell them from ids, and the set does not spare it that.
		format := -1
		if g.chance(0.6) {
			format = g.phoneFormat(true)
		}
		c.values = g.fill(func() string {
			f := format
			if f < 0 {
				f = g.phoneFormat(true)
			}
			n, ext := g.phoneAs(f)
			return n + ext
		})
	case TypeSSN:
		hinted := g.chance(0.8)
		c.name = g.names(hinted, []string{"ssn", "SSN", "social_security_number", "ssn_full", "SocialSecurityNo"}, []string{"value", "gov_ident", "col_2"})
		c.values = g.fill(func() string { return g.ssn(!hinted) })
	case TypeCard:
		c.name = g.header(0.7, []string{"card_number", "cc_number", "credit_card", "pan", "cardNumber", "payment_card"}, []string{"value", "payment", "instrument"})
		masked := []float64{0, 0, 0.05, 0.1}[g.r.IntN(4)]
		c.values = g.fill(func() string {
			if g.chance(masked) {
				return "**** **** **** " + g.digits(4)
			}
			return g.card()
		})
	case TypeIBAN:
		c.name = g.header(0.7, []string{"iban", "IBAN", "bank_iban", "account_iban"}, []string{"account", "value", "payee_account"})
		c.values = g.fill(g.iban)
	case TypeIP:
		c.name = g.header(0.7, []string{"ip", "ip_address", "client_ip", "src_ip", "remote_ip", "ipAddress"}, []string{"remote_addr", "value", "origin"})
		c.values = g.fill(g.ip)
	case TypeDateOfBirth:
		c.name = g.pick("dob", "DOB", "date_of_birth", "birth_date", "birthDate", "born_on", "Birthday", "Date of Birth", "dateOfBirth")
		layout := dobLayouts[g.r.IntN(len(dobLayouts))]
		c.values = g.fill(func() string {
			t, _ := time.Parse("2006-01-02", g.date(1930, 78))
			return t.Format(layout)
		})
	case TypePerson:
		c.name = g.header(0.75, []string{"name", "full_name", "customer", "contact_name", "patient_name", "Customer Name", "employee", "cardholder"},
			[]string{"value", "contact", "col_1"})
		c.values = g.fill(g.person)
	default:
		panic(typ)
	}
	return c
}

// mixed returns a column whose values are each one kind of PII, the kinds
// varying from value to value (a "contact" column of emails and phones).
func (g evalGen) mixed() evalColumn {
	kinds := []string{TypeEmail, TypePhone}
	for _, k := range []string{TypeSSN, TypeIP, TypeIBAN} {
		if g.chance(0.3) {
			kinds = append(kinds, k)
		}
	}
	c := evalColumn{name: g.pick("contact", "contact_info", "reach_me", "preferred_contact", "value", "handle", "identifier"), kind: "mixed"}
	used := map[string]bool{}
	c.values = g.fill(func() string {
		k := kinds[g.r.IntN(len(kinds))]
		used[k] = true
		switch k {
		case TypeEmail:
			return g.email()
		case TypePhone:
			n, ext := g.phone(false)
			return n + ext
		case TypeSSN:
			return g.ssn(true)
		case TypeIP:
			return g.ip()
		}
		return g.iban()
	})
	for _, k := range kinds {
		if used[k] {
			c.types = append(c.types, k)
		}
	}
	return c
}

// freeText returns a column of notes, a share of which hold PII of the
// given types.
func (g evalGen) freeText(types []string) evalColumn {
	c := evalColumn{name: g.pick("notes", "comment", "message", "description", "body", "ticket_text", "remarks", "feedback"), kind: "free text"}
	rate := []float64{0.1, 0.3, 0.6, 1}[g.r.IntN(4)]
	used := map[string]bool{}
	c.values = g.fill(func() string {
		t := g.text(types, rate)
		for _, s := range t.spans {
			used[s.typ] = true
		}
		return t.text
	})
	for _, k := range types {
		if used[k] {
			c.types = append(c.types, k)
		}
	}
	if len(c.types) == 0 {
		c.kind = "negative"
	}
	return c
}

// negative returns a column that holds no PII, most of them look-alikes.
func (g evalGen) negative() evalColumn {
	type neg struct {
		names []string
		gen   func() string
	}
	seq := int64(g.r.IntN(1e6))
	seqCard := "4" + g.digits(9)
	negs := []neg{
		{[]string{"order_id", "ref", "account_ref", "id"}, func() string { seq++; return fmt.Sprint(1_000_000_000 + seq) }},
		{[]string{"order_id", "orderNumber", "ref"}, g.luhnOrderID},
		{[]string{"order_id", "ref", "customer_number", "id"}, func() string { // sequential ids with a check digit, in Visa's range
			seq++
			d := fmt.Sprintf("%s%05d", seqCard, seq%100000)
			return d + luhnDigit(d)
		}},
		{[]string{"order_id", "order_no"}, func() string { return "ORD-" + g.digits(8) }},
		{[]string{"request_id", "trace_id", "uuid", "session", "value"}, g.uuid},
		{[]string{"commit", "sha", "git_sha", "revision"}, func() string { return g.hex(40) }},
		{[]string{"commit", "short_sha"}, func() string { return g.hex(7 + g.r.IntN(6)) }},
		{[]string{"object_id", "_id", "doc"}, func() string { return g.hex(24) }},
		{[]string{"created_ts", "ts", "updated", "phone_verified_at", "time"}, g.epoch},
		{[]string{"event_ms", "ts_ms", "timestamp"}, g.epochMs},
		{[]string{"isbn", "ISBN", "book"}, g.isbn13},
		{[]string{"price", "amount", "total"}, g.price},
		{[]string{"version", "build", "app_version", "os_build"}, g.version},
		{[]string{"tracking_number", "tracking", "shipment"}, g.tracking},
		{[]string{"invoice", "invoice_no"}, g.invoice},
		{[]string{"company_name", "company", "vendor"}, func() string {
			return g.pick("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay") + " " + g.pick("Corp", "Inc.", "GmbH", "Industries", "Holdings", "Ltd")
		}},
		{[]string{"model_name", "model"}, func() string {
			return g.pick("resnet-50", "llama-3-8b-instruct", "bert-base-uncased", "gpt2-medium", "mistral-7b-v0.2", "t5-small", "vit-b-16")
		}},
		{[]string{"table_name", "table"}, func() string {
			return g.pick("orders", "customers", "events", "payments") + "_" + fmt.Sprint(2019+g.r.IntN(7)) + "_q" + fmt.Sprint(1+g.r.IntN(4))
		}},
		{[]string{"product_name", "product", "item"}, func() string {
			return g.pick("Blue", "Red", "Classic", "Deluxe", "Smart", "Compact") + " " + g.pick("Widget", "Kettle", "Lamp", "Backpack", "Speaker") + g.pick("", " Pro", " Mini", " 2")
		}},
		{[]string{"file_name", "path"}, func() string {
			return g.pick("report", "IMG", "data", "export") + "_" + g.digits(6) + g.pick(".csv", ".jpg", ".parquet")
		}},
		{[]string{"hostname", "host"}, func() string { return g.pick("web", "db", "worker") + "-" + g.digits(2) + ".prod.internal" }},
		{[]string{"created_at", "updated_at", "event_time"}, g.datetime},
		{[]string{"order_date", "ship_date", "date"}, func() string { return g.date(2015, 10) }},
		{[]string{"zip", "postcode"}, func() string { return g.digits(5) }},
		{[]string{"sku", "part_number", "part_no"}, func() string { return g.digits(3) + "-" + g.digits(2) + "-" + g.digits(4) }},
		{[]string{"mac", "mac_address"}, func() string {
			return strings.ToUpper(g.hex(2) + ":" + g.hex(2) + ":" + g.hex(2) + ":" + g.hex(2) + ":" + g.hex(2) + ":" + g.hex(2))
		}},
		{[]string{"card_last4", "last4"}, func() string { return g.digits(4) }},
		{[]string{"quantity", "score", "count"}, func() string { return fmt.Sprint(g.r.IntN(100000)) }},
		{[]string{"status", "country", "currency"}, func() string { return g.pick("active", "closed", "US", "DE", "EUR", "pending") }},
		{[]string{"user_agent", "ua"}, func() string {
			return fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36", 100+g.r.IntN(30), 5000+g.r.IntN(1500), g.r.IntN(200))
		}},
		{[]string{"username", "user_name", "login", "handle"}, func() string { return asciiFold(g.first())[:3] + asciiFold(g.last()) + g.digits(2) }},
		{[]string{"imei", "device_imei", "device"}, func() string { d := "35" + g.digits(12); return d + luhnDigit(d) }},
		{[]string{"routing_number", "aba", "bank_code"}, func() string { return "0" + g.digits(8) }},
		{[]string{"lat_lng", "location", "coords"}, func() string {
			return fmt.Sprintf("%.5f,%.5f", -60+g.r.Float64()*120, -180+g.r.Float64()*360)
		}},
		{[]string{"zip4", "postal"}, func() string { return g.digits(5) + "-" + g.digits(4) }},
	}
	n := negs[g.r.IntN(len(negs))]
	return evalColumn{name: g.pick(n.names...), values: g.fill(n.gen), kind: "negative"}
}

// evalColumns returns the column-level evaluation set.
func evalColumns(seed uint64) []evalColumn {
	g := evalGen{rand.New(rand.NewPCG(seed, 13))}
	var cols []evalColumn
	for _, typ := range []string{TypeEmail, TypePhone, TypeSSN, TypeCard, TypeIBAN, TypeIP, TypeDateOfBirth, TypePerson} {
		for range 40 {
			cols = append(cols, g.structured(typ))
		}
	}
	textTypes := []string{TypeEmail, TypePhone, TypeSSN, TypeCard, TypeIBAN, TypeIP}
	for range 40 {
		var types []string
		for _, t := range textTypes {
			if g.chance(0.4) {
				types = append(types, t)
			}
		}
		cols = append(cols, g.freeText(types))
	}
	for range 20 {
		cols = append(cols, g.mixed())
	}
	for range 30 {
		cols = append(cols, g.freeText(nil))
	}
	for range 200 {
		cols = append(cols, g.negative())
	}
	return cols
}

// --- free text ---

// A labelledSpan is one PII value in a text.
type labelledSpan struct {
	start, end int
	typ        string
}

type evalText struct {
	text  string
	spans []labelledSpan
}

// text writes a note of a few sentences: with probability rate one or two
// PII values of the given types, and look-alikes that are not PII.
func (g evalGen) text(types []string, rate float64) evalText {
	type part struct {
		pre, val, post, typ string
	}
	var parts []part
	if len(types) > 0 && g.chance(rate) {
		for range 1 + g.r.IntN(2) {
			parts = append(parts, func() part {
				switch typ := types[g.r.IntN(len(types))]; typ {
				case TypeEmail:
					p := g.pick("email me at ", "contact: ", "reply to ", "From: ", "<", "cc ", "", "'", "(")
					post := g.pick("", ".", ",", " asap")
					switch p {
					case "<":
						post = ">"
					case "'":
						post = "'"
					case "(":
						post = ")"
					}
					e := g.email()
					if g.chance(0.03) { // written to escape harvesters
						e = strings.NewReplacer("@", " at ", ".", " dot ").Replace(e)
					}
					return part{p, e, post, typ}
				case TypePhone:
					n, ext := g.phone(true)
					p := g.pick("call me at ", "my cell is ", "phone: ", "reach me on ", "Tel. ", "mobile ", "text me at ", "call back on ")
					if digitsOf(n) != n && g.chance(0.3) {
						p = g.pick("or ", "- ", "", "alt ")
					}
					if digitsOf(n) == n && g.chance(0.05) {
						p = "alt " // bare digits without a word saying they are a phone
					}
					switch r := g.r.Float64(); {
					case r < 0.03: // a chat link
						a, e, l := g.nanp()
						p, n, ext = g.pick("wa.me/", "https://wa.me/"), "1"+a+e+l, ""
					case r < 0.06: // a local number, without its area code
						_, e, l := g.nanp()
						n, ext = e+"-"+l, ""
					}
					return part{p, n, ext + g.pick("", ".", ",", " after 5pm"), typ}
				case TypeSSN:
					return part{g.pick("SSN ", "ssn: ", "social security number ", "SSN#", "SS# "), g.ssn(false), g.pick("", ".", ","), typ}
				case TypeCard:
					return part{g.pick("card ", "paid with ", "Visa ", "cc: ", "card number ", "charged to ", "used "), g.card(), g.pick("", " exp 04/27", ".", ","), typ}
				case TypeIBAN:
					return part{g.pick("IBAN ", "IBAN: ", "transfer to ", "wire to account ", "bank details: "), g.iban(), g.pick("", ".", ","), typ}
				default:
					ip := g.ip()
					p := g.pick("from ", "client ip ", "login from ", "src=", "blocked ", "[")
					post := g.pick("", ".", ",")
					if p == "[" {
						post = "]"
						if g.chance(0.5) {
							post = "]:" + fmt.Sprint(1024+g.r.IntN(60000))
						}
					} else if strings.Count(ip, ":") == 0 && g.chance(0.3) {
						post = ":" + fmt.Sprint(1+g.r.IntN(65535))
					}
					return part{p, ip, post, TypeIP}
				}
			}())
		}
	}
	for range g.r.IntN(4) {
		var n string
		switch g.r.IntN(19) {
		case 0:
			n = g.pick("request ", "trace_id=", "ref ") + g.uuid()
		case 1:
			n = g.pick("commit ", "fixed in ", "see ") + g.hex(g.pick2(40, 7+g.r.IntN(6)))
		case 2:
			n = g.pick("order #", "order ", "Order no. ", "ref ") + g.luhnOrderID()
		case 3:
			a, e, l := g.nanp()
			n = g.pick("order ", "account ", "ticket ", "case #") + a + e + l
		case 4:
			n = g.pick("ts=", "at ", "since ", "expires ") + g.pick(g.epoch(), g.epochMs())
		case 5:
			n = "ISBN " + g.isbn13()
		case 6:
			n = g.pick("priced at ", "total ", "refund of ") + g.price()
		case 7:
			n = g.pick("build ", "on ", "app ", "release ") + g.version()
		case 8:
			n = fmt.Sprintf("version %d.%d.%d.%d", 1+g.r.IntN(9), g.r.IntN(20), g.r.IntN(10), g.r.IntN(100))
		case 9:
			n = g.pick("tracking ", "UPS ", "FedEx ") + g.tracking()
		case 10:
			n = g.pick("invoice ", "") + g.invoice()
		case 11:
			n = "on " + g.datetime()
		case 12:
			n = "object " + g.hex(24)
		case 13:
			n = g.pick("part no. ", "SKU ", "model ") + g.digits(3) + "-" + g.digits(2) + "-" + g.digits(4)
		case 14:
			n = fmt.Sprintf("qty %d x %d ml", 1+g.r.IntN(9), 50*(1+g.r.IntN(20)))
		case 15:
			n = "device " + strings.ToUpper(g.hex(2)+":"+g.hex(2)+":"+g.hex(2)+":"+g.hex(2)+":"+g.hex(2)+":"+g.hex(2))
		case 16:
			n = "card ending " + g.digits(4)
		case 17:
			n = g.pick(fmt.Sprintf("IMEI 35%s", g.digits(13)), fmt.Sprintf("at %.4f,%.4f", 30+g.r.Float64()*20, -120+g.r.Float64()*40),
				fmt.Sprintf("+%.1f%%", g.r.Float64()*30), "routing 0"+g.digits(8), "sort code "+g.digits(2)+"-"+g.digits(2)+"-"+g.digits(2),
				"room "+g.digits(4), fmt.Sprintf("%d %03d %03d,%02d EUR", 1+g.r.IntN(9), g.r.IntN(1000), g.r.IntN(1000), g.r.IntN(100)))
		default:
			n = "call at " + fmt.Sprintf("%d:%02d", 1+g.r.IntN(12), g.r.IntN(60)) + g.pick("pm", " am", "")
		}
		parts = append(parts, part{val: n})
	}
	g.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	var b strings.Builder
	var t evalText
	filler := func() {
		for range 1 + g.r.IntN(5) {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(g.pick(evalWords...))
		}
	}
	if len(parts) == 0 || g.chance(0.8) {
		filler()
	}
	for _, p := range parts {
		if b.Len() > 0 {
			b.WriteString(g.pick(" ", ", ", ". ", "; ", " - ", "\n"))
		}
		b.WriteString(p.pre)
		start := b.Len()
		b.WriteString(p.val)
		if p.typ != "" {
			t.spans = append(t.spans, labelledSpan{start, b.Len(), p.typ})
		}
		b.WriteString(p.post)
		if g.chance(0.5) {
			b.WriteByte(' ')
			filler()
		}
	}
	t.text = b.String()
	return t
}

func (g evalGen) pick2(a, b int) int {
	if g.chance(0.5) {
		return a
	}
	return b
}

// evalTexts returns the span-level evaluation set: notes with PII of every
// text type, and as many without.
func evalTexts(seed uint64) []evalText {
	g := evalGen{rand.New(rand.NewPCG(seed, 17))}
	types := []string{TypeEmail, TypePhone, TypeSSN, TypeCard, TypeIBAN, TypeIP}
	var out []evalText
	for range 3000 {
		out = append(out, g.text(types, 0.5))
	}
	return out
}
