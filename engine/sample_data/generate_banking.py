"""Generate banking_sample.csv: customer-service questions for 14 banking intents, with one answer per intent.

Written for ftbot (not copied from any public data set). Deterministic: hand-written sentence templates per intent
× slot values (amounts, days, currencies, shops, …), wrapped in varied greetings and sign-offs, with a seeded share
of casual typing (lower case, dropped punctuation, swapped letters). Each intent gets PER_INTENT distinct
phrasings; no text repeats anywhere in the file (compared case-insensitively).

    python -m engine.sample_data.generate_banking        # rewrites engine/sample_data/banking_sample.csv
"""
from __future__ import annotations

import csv
import random
import re
from pathlib import Path

SEED = 7
PER_INTENT = 32
OUT = Path(__file__).with_name("banking_sample.csv")

SLOTS = {
    "days": ["3 days", "a week", "ten days", "two weeks", "5 working days", "over a week"],
    "amount": ["20", "45.50", "120", "300", "75", "1,200", "60"],
    "cur": ["euros", "dollars", "pounds", "Swiss francs", "yen", "zloty"],
    "shop": ["the supermarket", "a petrol station", "an online shop", "the pharmacy", "a restaurant", "Amazon"],
    "place": ["abroad", "in Spain", "at the airport", "in the US", "on holiday", "in another country"],
    "when": ["yesterday", "this morning", "on Monday", "last night", "two days ago", "earlier today"],
    "method": ["my debit card", "Apple Pay", "a bank transfer", "Google Pay", "my credit card"],
    "bill": ["gym membership", "phone bill", "electricity bill", "rent", "streaming subscription", "insurance"],
}

INTENTS: dict[str, dict] = {
    "card_arrival": {
        "answer": "New cards usually arrive within 5-7 working days of ordering. You can follow the delivery under "
                  "Cards > Track delivery in the app. If it has not arrived after 10 working days, freeze the old "
                  "order and we will send a replacement free of charge.",
        "templates": [
            "I ordered a new card {days} ago and it still hasn't arrived",
            "When will my new card get here?",
            "My card has not been delivered yet, what should I do?",
            "How long does it take for a card to arrive in the post?",
            "Is there a way to track my card delivery?",
            "Still waiting for my card, it's been {days}",
            "where is my card",
            "The card you sent me never came",
            "Can you tell me the status of my card shipment?",
            "I was told the card would come in {days} but nothing so far",
            "Has my replacement card been posted?",
            "How many days until my card is delivered?",
            "My new debit card is taking ages to arrive",
            "I moved recently, could my card have gone to the old address?",
            "Do you send a tracking number for new cards?",
            "It's been {days} and my card is nowhere to be seen",
            "Is my card lost in the mail?",
            "I need my card urgently, when will it arrive?",
        ],
    },
    "lost_card": {
        "answer": "Sorry to hear that. Freeze the card straight away in the app (Cards > Freeze) so nobody can use "
                  "it, then choose 'Report lost or stolen' to cancel it and order a replacement. Card payments you "
                  "don't recognise can be disputed from the transaction screen.",
        "templates": [
            "I lost my card {when}",
            "My wallet was stolen with my card in it",
            "I think I left my card {place}, what do I do?",
            "Someone stole my bank card",
            "How do I report a lost card?",
            "I can't find my card anywhere",
            "My card was stolen {place}, please block it",
            "I dropped my card somewhere {when}",
            "Need to cancel my card because it's missing",
            "lost my card pls help",
            "What should I do if my card is stolen?",
            "I misplaced my debit card, can you freeze it?",
            "My bag got stolen {when} and my card was inside",
            "How can I block a card I lost?",
            "I think someone took my card at {shop}",
            "Can I get a replacement for a lost card?",
            "My card is gone and I'm worried someone will use it",
            "I left my card in a taxi",
        ],
    },
    "exchange_rate": {
        "answer": "We use the real-time interbank rate on weekdays and add a small markup at weekends when markets "
                  "are closed. You can see the exact rate before you confirm any exchange under Payments > "
                  "Exchange, and card payments abroad show the rate applied in the transaction details.",
        "templates": [
            "What exchange rate do you use for {cur}?",
            "How much will I get if I change {amount} {cur}?",
            "Is the exchange rate better on weekdays?",
            "Why was the exchange rate different from what Google showed?",
            "What rate will I be charged when I pay {place}?",
            "Do you add a markup on the exchange rate?",
            "Where can I see today's rate for {cur}?",
            "The conversion rate on my payment {when} looks wrong",
            "how are exchange rates calculated",
            "Can I lock in an exchange rate for {cur}?",
            "Is the rate the same for card payments and transfers?",
            "What's the current rate from euros to {cur}?",
            "Why did I get a worse rate at the weekend?",
            "Are exchange rates updated in real time?",
            "I want to know the rate before I exchange {amount} {cur}",
            "Do you use the interbank rate?",
        ],
    },
    "transfer_pending": {
        "answer": "Most transfers complete within a few minutes, but some take up to 1-2 working days while the "
                  "receiving bank processes them or we run a routine security check. A transfer shows as pending "
                  "until then; if it is still pending after 2 working days, reply here and we will look into it.",
        "templates": [
            "My transfer has been pending since {when}",
            "Why is my transfer still pending?",
            "I sent {amount} {cur} {when} and it still says pending",
            "How long does a transfer stay pending?",
            "The money I transferred hasn't arrived, it's stuck on pending",
            "Transfer stuck in pending status, what's going on?",
            "When will my pending transfer go through?",
            "I made a transfer {days} ago and it's still processing",
            "my payment to a friend is pending, is that normal",
            "The recipient hasn't received my transfer yet",
            "Why does my bank transfer take so long?",
            "Is there a problem with my transfer? It shows pending",
            "Can I speed up a pending transfer?",
            "A transfer I sent {when} hasn't been completed",
            "It has been {days} and my transfer is still not done",
            "My outgoing payment is stuck, can you check?",
        ],
    },
    "top_up_failed": {
        "answer": "A top-up can fail if the card issuer declines it, the card details or billing address don't "
                  "match, or the card doesn't support 3-D Secure. Check the details in Account > Top up and try "
                  "again; if it keeps failing, try another card or a bank transfer. No money is taken for a failed "
                  "top-up.",
        "templates": [
            "My top up failed",
            "I tried to top up {amount} {cur} with {method} but it didn't work",
            "Why was my top-up declined?",
            "Top up keeps failing, what's wrong?",
            "I can't add money to my account",
            "The top up didn't go through {when}",
            "Adding funds with {method} gives me an error",
            "topup not working",
            "Why can't I top up my account with my card?",
            "My top-up was rejected but the money left my other account",
            "I get an error every time I try to top up",
            "Is there a problem with top ups today?",
            "Failed to load money onto my account",
            "How do I fix a failed top-up?",
            "The app says my top up was unsuccessful",
            "I topped up {when} but the balance didn't change",
        ],
    },
    "pin_blocked": {
        "answer": "Your PIN is blocked after three wrong attempts. You can unblock it at any cash machine that offers "
                  "PIN services by entering the correct PIN, or view your PIN in the app under Cards > Show PIN and "
                  "then unblock it there.",
        "templates": [
            "I entered the wrong PIN too many times and now it's blocked",
            "My PIN is blocked, how do I unblock it?",
            "How can I unlock my PIN?",
            "I forgot my PIN and now my card is locked",
            "PIN blocked after three attempts {when}",
            "The ATM said my PIN is blocked",
            "I typed my pin wrong 3 times",
            "How do I reset a blocked PIN?",
            "Can you unblock my PIN please?",
            "My card won't work because the PIN got blocked",
            "pin locked what now",
            "I can't remember my PIN and it's now blocked",
            "Where can I see my PIN so I can unblock it?",
            "The cash machine blocked my PIN when I was {place}",
            "Is there a way to unblock my PIN in the app?",
            "My PIN stopped working after I got it wrong",
        ],
    },
    "card_declined": {
        "answer": "A card payment can be declined if the card is frozen, the balance is too low, a spending limit "
                  "is reached, or the merchant needs an extra security check. Check Cards > Settings for freezes and "
                  "limits, make sure you have enough balance, and try again. Declined payments are never charged.",
        "templates": [
            "My card was declined at {shop}",
            "Why was my card payment declined?",
            "My card got rejected {when} even though I have money",
            "Card declined {place}, what happened?",
            "I tried to pay with my card but it was refused",
            "Why does my card keep getting declined?",
            "The payment at {shop} didn't go through",
            "card declined for no reason",
            "My card doesn't work in shops",
            "I was embarrassed when my card was declined at {shop}",
            "Online payment with my card failed",
            "The terminal said declined, but my balance is fine",
            "Why can't I pay with my card {place}?",
            "My contactless payment was declined",
            "Transaction declined at the till, please check my card",
            "Is there a block on my card? It keeps failing",
        ],
    },
    "refund_request": {
        "answer": "Refunds are issued by the merchant. Once they process it, it usually reaches your account within "
                  "5-10 working days and appears as a credit next to the original payment. If the merchant refuses "
                  "or the refund doesn't arrive, you can raise a dispute from the transaction screen.",
        "templates": [
            "I'm waiting for a refund from {shop}",
            "How long does a refund take to show up?",
            "The shop said they refunded me but I don't see it",
            "I returned an item and want my money back",
            "Where is my refund?",
            "Refund of {amount} {cur} hasn't arrived yet",
            "Can you help me get a refund for a purchase {when}?",
            "The merchant refunded me {days} ago, why isn't it in my account?",
            "how do i request a refund",
            "I was charged for something I cancelled and want a refund",
            "My refund is missing",
            "When will the refund from {shop} reach my account?",
            "The seller won't refund me, what can I do?",
            "I need a refund for a double payment",
            "Is it possible to reverse a card payment?",
            "I got a refund but it shows as pending",
        ],
    },
    "change_address": {
        "answer": "You can update your address in the app under Profile > Personal details > Address. We may ask "
                  "for a recent proof of address. Cards already sent go to the old address, so freeze any card in "
                  "transit and order a new one after updating.",
        "templates": [
            "How do I change my address?",
            "I moved house and need to update my address",
            "Can I update my home address in the app?",
            "I need to change the address on my account",
            "Where do I edit my personal details?",
            "My address is wrong on my profile",
            "I'm moving next month, how do I change my address?",
            "update address pls",
            "What documents do I need to change my address?",
            "I relocated {place}, can I still update my address?",
            "How can I change my billing address?",
            "The app won't let me edit my address",
            "I want my statements sent to a new address",
            "Can you change my postal address for me?",
            "I moved {when} and my address needs updating",
            "Is it possible to change my registered address online?",
        ],
    },
    "account_fees": {
        "answer": "The Standard plan has no monthly fee. Fees only apply to some extras, such as card replacements "
                  "after the first, express delivery, and exchanges above the fair-usage limit. The full list is in "
                  "the app under Profile > Plan & fees.",
        "templates": [
            "What fees do you charge?",
            "Is there a monthly fee for my account?",
            "Why was I charged a fee {when}?",
            "How much does the account cost per month?",
            "I see a fee of {amount} {cur} on my statement, what is it?",
            "Are there any hidden charges?",
            "What does the premium plan cost?",
            "Do I pay anything to keep my account open?",
            "fees for standard account?",
            "Can you explain the charges on my account?",
            "Is there a fee for ordering a new card?",
            "Why did you take money for an account fee?",
            "Where can I see the list of fees?",
            "Do you charge for transfers?",
            "I was charged a fee I don't understand",
            "Are there fees for paying {place}?",
        ],
    },
    "direct_debit": {
        "answer": "You can set up, view and cancel direct debits in the app under Payments > Direct debits. A new "
                  "direct debit is usually set up by the company you pay, using your account number and sort code. "
                  "To stop one, cancel it in the app and also tell the company.",
        "templates": [
            "How do I set up a direct debit for my {bill}?",
            "Can I cancel a direct debit?",
            "A direct debit was taken that I didn't expect",
            "Where can I see my direct debits?",
            "My direct debit for the {bill} failed",
            "How do I stop the direct debit for my {bill}?",
            "I want to change the date of my direct debit",
            "Why was my direct debit rejected?",
            "direct debit not showing",
            "Can I pay my {bill} by direct debit?",
            "Someone took a direct debit from my account without permission",
            "What details do I give for a direct debit?",
            "My {bill} company says the direct debit bounced",
            "How long does a new direct debit take to set up?",
            "Can I have a direct debit in {cur}?",
            "I need to cancel the direct debit for my old {bill}",
        ],
    },
    "cash_withdrawal_fee": {
        "answer": "Cash withdrawals are free up to 200 EUR a month; after that a 2% fee applies. Some cash machine "
                  "operators add their own fee, which the machine shows before you confirm. Your remaining free "
                  "allowance is shown under Cards > Limits.",
        "templates": [
            "Why was I charged for withdrawing cash?",
            "Is there a fee for using an ATM {place}?",
            "How much does it cost to take out cash?",
            "I took out {amount} {cur} and got charged a fee",
            "What are the ATM fees?",
            "Do you charge for cash withdrawals?",
            "I was charged extra at the cash machine {when}",
            "how many free withdrawals do i get",
            "Why is there a fee on my ATM withdrawal?",
            "Is withdrawing money {place} free?",
            "The ATM charged me a fee, will you refund it?",
            "What's the limit for free cash withdrawals?",
            "Cash withdrawal fee seems too high",
            "Can I avoid fees when taking out cash?",
            "I got a charge after using the cash machine",
            "Does the withdrawal fee depend on the currency?",
        ],
    },
    "close_account": {
        "answer": "We're sorry to see you go. Move or withdraw your remaining balance first, then go to Profile > "
                  "Close account in the app. Pending card payments must settle before the account can close, and we "
                  "keep your statements available for download.",
        "templates": [
            "How do I close my account?",
            "I want to delete my account",
            "Please close my bank account",
            "Can I cancel my account and get my money back?",
            "What happens to my balance if I close my account?",
            "I don't need this account anymore",
            "How can I terminate my account?",
            "close my account please",
            "I'm switching banks, how do I close this account?",
            "Is there a fee for closing my account?",
            "Can I reopen my account after closing it?",
            "Steps to permanently delete my account?",
            "I'd like to shut down my account {when}",
            "How long does it take to close an account?",
            "Will closing my account cancel my direct debits?",
            "I want to leave and close everything",
        ],
    },
    "unrecognised_payment": {
        "answer": "If you don't recognise a payment, first check the merchant name and date in the transaction "
                  "details, as company names can differ from shop names. If it still looks wrong, freeze your card "
                  "and tap 'I don't recognise this' on the transaction so we can investigate and refund you if it "
                  "was fraud.",
        "templates": [
            "There's a payment on my account I don't recognise",
            "I didn't make this payment of {amount} {cur}",
            "Someone used my card at {shop}",
            "Unknown transaction on my statement {when}",
            "What is this charge from {shop}?",
            "I see a card payment I never made",
            "There's a strange transaction {place}",
            "I think my card has been used by someone else",
            "who charged me this",
            "A payment appeared that isn't mine",
            "I was charged {amount} {cur} by a company I don't know",
            "How do I dispute a transaction I didn't make?",
            "Fraudulent payment on my card, help",
            "My account shows a purchase I didn't authorise",
            "I don't know what this payment is for",
            "Suspicious charge on my card {when}",
        ],
    },
}

OPENERS = ["", "", "", "Hi, ", "Hello, ", "Hey, ", "Good morning. ", "Hi there! ", "Excuse me, ", "Quick question: "]
CLOSERS = ["", "", "", " Thanks.", " Thank you!", " Please help.", " Can you help?", " Cheers", " Thanks in advance."]


def _fill(template: str, rng: random.Random) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: rng.choice(SLOTS[m.group(1)]), template)


def _casual(text: str, rng: random.Random) -> str:
    """Typing as people do on a phone: lower case, no final punctuation, sometimes two letters swapped."""
    text = text.lower().rstrip(".?!")
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if long and rng.random() < 0.6:
        i = rng.choice(long)
        w = words[i]
        j = rng.randrange(1, len(w) - 2)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def _phrase(core: str, rng: random.Random) -> str:
    opener, closer = rng.choice(OPENERS), rng.choice(CLOSERS)
    # After "Hi, " or "Quick question: " the sentence continues in lower case; after "Hi there! " it starts anew.
    if opener.endswith((", ", ": ")) and core[:1].isupper() and not core.startswith(("I ", "I'", "PIN", "ATM")):
        core = core[0].lower() + core[1:]
    text = f"{opener}{core}"
    if closer and text[-1:] not in ".?!":
        text += "."
    text += closer
    return _casual(text, rng) if rng.random() < 0.15 else text


def generate(seed: int = SEED, per_intent: int = PER_INTENT) -> list[dict]:
    rng = random.Random(seed)
    seen: set[str] = set()
    rows = []
    for intent, spec in INTENTS.items():
        made = 0
        attempts = 0
        while made < per_intent:
            attempts += 1
            if attempts > 5000:
                raise RuntimeError(f"cannot make {per_intent} distinct phrasings for {intent}")
            # First pass uses every template once; later passes re-use them with new slots and wrappers.
            tpl = spec["templates"][made] if made < len(spec["templates"]) else rng.choice(spec["templates"])
            text = _phrase(_fill(tpl, rng), rng)
            key = " ".join(text.split()).casefold()
            if key in seen:
                continue
            seen.add(key)
            rows.append({"text": text, "intent": intent, "answer": spec["answer"]})
            made += 1
    rng.shuffle(rows)
    return rows


def write(path: Path = OUT) -> Path:
    rows = generate()
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["text", "intent", "answer"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


if __name__ == "__main__":
    print(write())
