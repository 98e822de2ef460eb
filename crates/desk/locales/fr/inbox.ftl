# The inbox: filters, counts, pages, the emergency banner, and how
# dates and spans of time are written in this language.

month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre
date-time = { $day } { $month } { $year }, { $time } UTC
time-in = dans { $span }
time-ago = il y a { $span }
span-minutes = { $n } min
span-hours = { $n } h
span-days = { $n } j
filters-label = Filtrer les dossiers
filter-show = Afficher
show-open = Dossiers ouverts
show-overdue = Dossiers en retard
show-finished = Dossiers terminés
show-all = Tous les dossiers
filter-any = Tous
filter-counterpart-help = Code à deux lettres, par exemple FR
filter-apply = Appliquer
counts-title = Dossiers ouverts par statut
counts-open = { $open } dossiers ouverts, dont { $overdue } en retard
pages-label = Pages
page-previous = Page précédente
page-next = Page suivante
page-number = Page { $page }
inbox-overdue = en retard
alerts-emergencies = Demandes d’urgence en attente d’accusé de réception : { $count }
