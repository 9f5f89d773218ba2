"""A small customer-service dataset (text, intent, answer) that a tiny model learns in seconds."""
import csv
import io

INTENTS = {
    "lost_card": (["I lost my card", "my card is missing", "can't find my debit card", "card was stolen",
                   "where is my card, I lost it", "someone stole my card", "lost card help", "my card is gone",
                   "I misplaced my card", "card lost yesterday", "stolen card what now", "report lost card"],
                  "Freeze the card in the app under Card > Freeze and order a replacement."),
    "top_up": (["how do I top up", "add money to my account", "top up with bank transfer", "topup failed",
                "can I top up by card", "top-up limit", "add funds please", "how to add money",
                "top up not working", "deposit money to account", "top up with apple pay", "load money"],
               "Top up in Account > Top up with a card or a bank transfer."),
    "fees": (["what are the fees", "is there a monthly fee", "how much does it cost", "fee for new card",
              "are transfers free", "premium plan price", "exchange fee", "atm withdrawal fee",
              "do you charge fees", "cost of the plan", "hidden charges?", "fee for express delivery"],
             "The Standard plan has no monthly fee; extras are listed under Profile > Plan & fees."),
}


def cards_csv(pii: bool = True) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["text", "intent", "answer"])
    for intent, (texts, answer) in INTENTS.items():
        for t in texts:
            w.writerow([t, intent, answer])
    if pii:
        w.writerow(["my email is jane.doe@example.com and my card is lost", "lost_card", INTENTS["lost_card"][1]])
    return buf.getvalue().encode()
