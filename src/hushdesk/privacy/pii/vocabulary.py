"""Word lists of our own for finding names: the cue phrases that announce a name, sign-offs,
and the function words, greetings and chat words that are never part of one, in the languages
our users' customers write (English, Afrikaans, German, French, Dutch, Zulu, Xhosa, Sotho)."""

from __future__ import annotations

# Phrases after which a name follows ("my name is ...", "t.n.v. ..."). Matched case-insensitively
# as whole words; spaces match any run of spaces.
STRONG_NAME_CUES = (
    "my name is", "my name's", "name is", "names", "my full name is", "full name", "name",
    "account name", "account holder", "name on the account", "name on the card", "name on card",
    "cardholder", "card holder", "recipient", "receiver", "addressee", "contact person",
    "attention", "attn", "c/o", "signed", "nom", "prénom", "nom complet", "je m'appelle",
    "je suis", "ich bin", "ich heiße", "ich heisse", "mein name ist", "mein name", "name ist",
    "ik ben", "ik heet", "mijn naam is", "mijn naam", "naam", "t.n.v.", "tnv", "t.a.v.",
    "ten name van", "op naam van", "auf den namen", "auf den namen von", "au nom de",
    "my naam is", "ek is", "igama lami ngu", "igama lam ngu", "igama lami", "igama lam",
    "ngingu", "ndingu", "lebitso la ka ke", "lebitso laka ke", "ke nna", "traveller details",
    "traveler details", "traveller", "traveler", "passenger", "guest name", "guest",
    "patient", "policyholder", "policy holder", "beneficiary", "account owner", "spoke to",
    "spoke with", "speak to", "speaking to", "talk to", "talked to", "ask for", "asked for",
    "named", "called", "customer name", "client name", "kundenname", "nom du client",
    "klantnaam", "empfänger", "destinataire", "ontvanger", "inhaber", "kontoinhaber",
    "titulaire", "rekeninghouer", "deliver to", "addressed to", "parcel for",
)  # fmt: skip

# Cues that often precede a name but also other things ("for the outstanding ..."): the name
# must look like one on its own (a known first name, capitalised where the text is not all lower).
WEAK_NAME_CUES = (
    "i'm", "i am", "im", "i’m", "this is", "it's", "it is", "for", "für", "pour", "voor", "vir",
    "under", "from", "to",
)  # fmt: skip

RELATIVE_CUES = (
    "my wife", "my husband", "my son", "my daughter", "my mother", "my mom", "my mum", "my ma",
    "my father", "my dad", "my pa", "my brother", "my sister", "my neighbour", "my neighbor",
    "my friend", "my colleague", "my partner", "my boyfriend", "my girlfriend", "my fiancé",
    "my fiance", "my boss", "my manager", "my grandmother", "my granny", "my gran",
    "my grandfather", "my grandpa", "my aunt", "my uncle", "my cousin", "my child", "my kid",
    "my nephew", "my niece", "my landlord", "my tenant", "my assistant", "my agent",
    "meine frau", "mein mann", "mein sohn", "meine tochter", "meine mutter", "mein vater",
    "ma femme", "mon mari", "mon fils", "ma fille", "ma mère", "mon père", "mijn vrouw",
    "mijn man", "mijn zoon", "mijn dochter", "mijn moeder", "mijn vader", "my vrou", "my man",
    "my seun", "my dogter", "my ma", "my pa",
)  # fmt: skip

TITLES = (
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "mnr", "mev", "mej", "herr",
    "frau", "mme", "mlle", "dhr", "mevr", "meneer", "mevrouw", "monsieur", "madame",
    "sister", "brother", "pastor", "rev", "father", "advocate", "adv", "judge",
)  # fmt: skip

SIGN_OFFS = (
    "thanks", "thank you", "thanks a lot", "many thanks", "thx", "thnx", "tx", "ty", "tnx",
    "cheers", "regards", "kind regards", "best regards", "warm regards", "best wishes", "best",
    "br", "kr", "rgds", "sincerely", "yours sincerely", "yours faithfully", "yours", "respectfully",
    "merci", "merci beaucoup", "cordialement", "bien à vous", "bisous", "amitiés", "danke",
    "vielen dank", "danke schön", "grüße", "gruß", "gruss", "viele grüße", "liebe grüße", "lg",
    "mfg", "mit freundlichen grüßen", "vg", "dankie", "baie dankie", "groete", "groetjes",
    "vriendelijke groet", "met vriendelijke groet", "mvg", "gr", "dank je", "dank u", "bedankt",
    "ngiyabonga", "ngiyabonga kakhulu", "enkosi", "kea leboha", "ke a leboha", "ke a leboga",
    "love", "xoxo", "later", "bye", "from", "sent by", "signed",
)  # fmt: skip

GREETINGS = (
    "hi", "hello", "hey", "dear", "hiya", "howzit", "morning", "good morning", "good day",
    "good afternoon", "good evening", "hallo", "hoi", "goeie môre", "goeiemôre", "goeie more",
    "goeie dag", "goeiedag", "bonjour", "salut", "bonsoir", "coucou", "guten tag", "guten morgen",
    "moin", "servus", "goedemorgen", "goedemiddag", "goedenavond", "dag", "sawubona", "sanibonani",
    "molo", "molweni", "dumela", "dumelang", "lotjhani", "avuxeni", "hanlo", "yo", "sup",
    "greetings", "welcome", "bonjou",
)  # fmt: skip

# Words that make the word before them a place or a product, not a surname ("Marina Mall").
PLACE_WORDS = frozenset(
    """
    mall store stores shop shops branch centre center plaza square market hotel lodge restaurant
    cafe café bank school college university church hospital clinic station airport park bay
    beach city town village heights gardens estate court house tower building pay card air max
    pro plus mini ultra street road avenue drive lane way close crescent boulevard place
    """.split()
)

# Never part of a name, whatever the name lists say ("Will", "May", "Is" are names somewhere).
STOP_WORDS = frozenset(
    """
    a an the and or but nor so yet if then than that this these those there here where when what
    which who whom whose why how i me my mine myself we us our ours you your yours he him his she
    her hers it its they them their theirs is am are was were be been being have has had do does
    did done will would shall should can could may might must not no yes ok okay please pls plz
    thanks thank thx thnx ty cheers regards hi hello hey dear to of in on at by for from with
    without about into onto over under again also just only still already yet now today
    tomorrow yesterday tonight soon later very really too all any some many much more most less
    few each every both either neither other another same new old good great bad help sorry
    issue problem order account card number phone email mail address street road avenue drive
    city town code details name names full customer client team support service refund payment
    invoice delivery parcel package shipment store shop bank branch office home work police
    monday tuesday wednesday thursday friday saturday sunday january february march july
    september october november december week month year day morning afternoon
    evening night mr mrs ms miss dr sir madam
    ek is my jy jou ons hulle die en of nie vir met van op in asseblief dankie baie goeie môre
    more dag hallo groete
    ich bin mein meine du dein sie wir ihr und oder aber nicht für mit von zu auf im am der die
    das den dem des ein eine einen bitte danke hallo gruß grüße liebe hier
    je suis mon ma mes tu ton ta vous nous il elle et ou mais pas pour avec de du des le la les
    un une au aux merci bonjour salut svp stp ici
    ik ben mijn jij je jouw u uw wij we zij en of maar niet voor met van het een de te op in aan
    alsjeblieft alstublieft bedankt dank hoi hallo groetjes
    sawubona sanibonani ngiyabonga molo molweni enkosi dumela dumelang kea leboha howzit
    yo lol omg asap tbh idk fyi btw ps
    """.split()
)
