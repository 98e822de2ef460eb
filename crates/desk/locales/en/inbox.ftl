# The inbox: filters, counts, pages, the emergency banner, and how
# dates and spans of time are written in this language.

month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
date-time = { $day } { $month } { $year }, { $time } UTC
time-in = in { $span }
time-ago = { $span } ago
span-minutes = { $n } min
span-hours = { $n } h
span-days = { $n } d
filters-label = Filter the cases
filter-show = Show
show-open = Open cases
show-overdue = Overdue cases
show-finished = Finished cases
show-all = All cases
filter-any = Any
filter-counterpart-help = Two-letter code, such as FR
filter-apply = Apply
counts-title = Open cases by status
counts-open = { $open } open cases, { $overdue } overdue
pages-label = Pages
page-previous = Previous page
page-next = Next page
page-number = Page { $page }
inbox-overdue = overdue
alerts-emergencies = Emergency requests awaiting acknowledgement: { $count }
