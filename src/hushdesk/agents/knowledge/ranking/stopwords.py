"""Words too common to say what a passage is about, in the languages customers write in most.

Entries are in folded form (lowercase, accents removed, apostrophes dropped), as
``analysis.fold`` leaves them. Words that are function words in one language but content words
in another that help centres use are left out on purpose: Dutch "door" (a door sensor), French
"plus" (a plan name), German "man" and "bin".
"""

from __future__ import annotations

ENGLISH = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can cant could couldnt did didnt do does doesnt doing dont down
    during each few for from further had hadnt has hasnt have havent having he her here hers
    herself him himself his how i id if im in into is isnt it its itself ive just let lets me
    more most my myself no nor not now of off on once only or other ought our ours ourselves
    out over own same she should shouldnt so some such than that thats the their theirs them
    themselves then there theres these they theyre this those through to too under until up
    very was wasnt we were werent what whats when where which while who whom why will with
    wont would wouldnt you youd youll youre youve your yours yourself yourselves
    also get got hi hello please thanks thank hey ok okay would like want need
    """.split()
)

DUTCH = frozenset(
    """
    de het een en van ik je jij u we wij ze zij hij is zijn was waren niet dat die dit deze
    er op aan met voor in uit te om of maar ook als bij nog al naar dan wat hoe waarom wanneer
    mijn mij me ons onze jullie hun heb hebt heeft hebben kan kun kunt kunnen moet moeten
    wil wilt willen wordt worden werd geen wel toch zo hallo bedankt graag
    """.split()
)

GERMAN = frozenset(
    """
    der die das den dem des ein eine einen einem einer und oder aber ich du er sie es wir ihr
    ist sind war waren bin bist hat habe haben hatte nicht kein keine mit von zu zum zur auf
    fur bei aus nach wie was warum wann wo mein meine meinen meinem mich mir uns unser kann
    konnen muss mussen will wollen wird werden auch noch schon so dass hallo danke bitte
    """.split()
)

FRENCH = frozenset(
    """
    le la les un une des du de et ou mais je tu il elle nous vous ils elles est sont etait
    ai as avons avez ont pas ne ce cet cette ces mon ma mes ton ta tes notre nos votre vos
    leur leurs que qui quoi dans sur pour par avec sans au aux en comment pourquoi quand
    bonjour merci suis peux puis veux faire
    """.split()
)

SPANISH = frozenset(
    """
    el la los las un una unos unas y o pero de del al en con por para sin que quien como
    cuando donde porque yo tu el ella nosotros ustedes ellos es son era fue esta estan estoy
    he ha han hay no mi mis su sus nuestro me te se lo le les hola gracias puedo quiero
    """.split()
)

AFRIKAANS = frozenset(
    """
    die en is nie het van wat ek jy dit om te op vir met ons hulle sy hy was sal kan moet my
    ook maar of as by na wees hoe hoekom wanneer waar baie dankie asseblief
    """.split()
)

STOPWORDS = ENGLISH | DUTCH | GERMAN | FRENCH | SPANISH | AFRIKAANS
